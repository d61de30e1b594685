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
