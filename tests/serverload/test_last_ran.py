"""The load and drift pages say when the last sample and the last check ran, amber when overdue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring.serverload.models import DriftCheck, LoadSettings

pytestmark = pytest.mark.django_db


def test_the_load_page_says_when_the_last_sample_was_taken(client, login, executive, make_load_sample):
    LoadSettings.store(sample_interval_seconds=60)
    make_load_sample(timezone.now() - timedelta(minutes=2))
    login(client, executive)
    page = client.get(reverse("serverload:dashboard")).content.decode()
    assert "Last sample <time" in page and "2\xa0minutes ago" in page and "Overdue" not in page


def test_a_late_sample_is_overdue(client, login, executive, make_load_sample):
    LoadSettings.store(sample_interval_seconds=60)
    make_load_sample(timezone.now() - timedelta(minutes=20))
    login(client, executive)
    page = client.get(reverse("serverload:dashboard")).content.decode()
    assert "Overdue" in page and "it should run every 1\xa0minute" in page


def test_it_staff_read_what_to_check_and_an_executive_what_it_means(
    client, login, it_staff, executive, make_load_sample
):
    LoadSettings.store(sample_interval_seconds=60)
    make_load_sample(timezone.now() - timedelta(minutes=20))
    login(client, it_staff)
    page = client.get(reverse("serverload:dashboard")).content.decode()
    assert "Celery worker and beat running?" in page
    client.logout()
    login(client, executive)
    page = client.get(reverse("serverload:dashboard")).content.decode()
    assert "Celery" not in page and "the figures below are old" in page
    assert "The automatic checks behind this page have stopped" in page


def test_the_drift_page_explains_itself_to_an_executive_without_file_names(client, login, it_staff, executive):
    login(client, executive)
    page = client.get(reverse("serverload:drift")).content.decode()
    assert "IT is alerted to every difference it finds" in page and "Passwords and keys" in page
    assert "sasl_passwd" not in page and "main.cf</code> are watched" not in page
    client.logout()
    login(client, it_staff)
    page = client.get(reverse("serverload:drift")).content.decode()
    assert "<code>sasl_passwd</code>" in page and "as you approved them" in page


@pytest.mark.parametrize(("hours_ago", "overdue"), [(2, False), (8, True)])
def test_the_drift_page_says_when_the_last_check_ran(client, login, executive, hours_ago, overdue):
    LoadSettings.store(drift_check_interval_hours=6)
    at = timezone.now() - timedelta(hours=hours_ago)
    DriftCheck.objects.create(status="done", requested_at=at, started_at=at, finished_at=at)
    DriftCheck.objects.create(status="pending")  # waiting: not a run
    login(client, executive)
    page = client.get(reverse("serverload:drift")).content.decode()
    assert "Last check <time" in page and f"{hours_ago}\xa0hours ago" in page
    assert ("Overdue" in page) is overdue
