"""The sending dashboard says when the policy service last reported, amber when it stopped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring.sending.models import SendingState

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("seconds_ago", "overdue"), [(40, False), (600, True)])
def test_it_says_when_the_policy_service_last_reported(client, login, it_staff, settings, seconds_ago, overdue):
    settings.MAIL_SERVICE_HEARTBEAT_INTERVAL, settings.MAIL_SERVICE_MISSED_BEATS = 60, 3
    SendingState.store(service_seen_at=timezone.now() - timedelta(seconds=seconds_ago), service_host="mx1")
    login(client, it_staff)
    page = client.get(reverse("sending:dashboard")).content.decode()
    assert "Policy service last reported <time" in page
    assert ("Overdue" in page) is overdue
    if overdue:
        assert "mail_policy_server running" in page


def test_an_executive_reads_a_plain_sentence_when_the_service_stopped(client, login, executive, settings):
    settings.MAIL_SERVICE_HEARTBEAT_INTERVAL, settings.MAIL_SERVICE_MISSED_BEATS = 60, 3
    SendingState.store(service_seen_at=timezone.now() - timedelta(seconds=600), service_host="mx1")
    login(client, executive)
    page = client.get(reverse("sending:dashboard")).content.decode()
    assert "Overdue" in page and "manage.py" not in page
    assert "The sending checks are not running, so we cannot tell whether people send mail within the limits." in page


def test_a_never_seen_service_tells_it_staff_the_commands_and_an_executive_what_it_means(
    client, login, it_staff, executive
):
    login(client, it_staff)
    page = client.get(reverse("sending:dashboard")).content.decode()
    assert "manage.py mail_policy_server" in page and "Policy service last reported: not run yet." in page
    client.logout()
    login(client, executive)
    page = client.get(reverse("sending:dashboard")).content.decode()
    assert "manage.py" not in page and "mail_policy_config" not in page
    assert "the sending limits are not in the mail path yet" in page
