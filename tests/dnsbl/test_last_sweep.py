"""The block-list dashboard says when the last sweep ran, amber when the next one is overdue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.urls import reverse
from django.utils import timezone

from monitoring.dnsbl.models import DnsblSchedule, DnsblSweep

pytestmark = pytest.mark.django_db


def finished(ago: timedelta) -> DnsblSweep:
    at = timezone.now() - ago
    return DnsblSweep.objects.create(
        kind=DnsblSweep.Kind.SCHEDULED, state=DnsblSweep.State.DONE, started_at=at, finished_at=at
    )


def test_it_says_when_the_last_sweep_ran(client, login, executive):
    DnsblSchedule.store(interval_minutes=30)
    finished(timedelta(minutes=3))
    login(client, executive)
    page = client.get(reverse("dnsbl:dashboard")).content.decode()
    assert "Last sweep <time" in page and "3\xa0minutes ago" in page
    assert "Overdue" not in page


def test_an_overdue_sweep_is_amber(client, login, executive):
    DnsblSchedule.store(interval_minutes=30)
    finished(timedelta(hours=2))
    login(client, executive)
    page = client.get(reverse("dnsbl:dashboard")).content.decode()
    assert "status-warning" in page and "Overdue" in page and "it should run every 30\xa0minutes" in page


def test_before_the_first_sweep_it_says_not_run_yet(client, login, executive):
    login(client, executive)
    page = client.get(reverse("dnsbl:dashboard")).content.decode()
    assert "Last sweep: not run yet." in page and "Overdue" not in page


def test_no_sweep_in_the_days_since_installation_is_overdue(client, login, executive):
    """Beat never started: nobody would be told if "never" stayed neutral."""
    DnsblSchedule.store(interval_minutes=30)
    MigrationRecorder.Migration.objects.filter(app="dnsbl").update(applied=timezone.now() - timedelta(days=2))
    login(client, executive)
    page = client.get(reverse("dnsbl:dashboard")).content.decode()
    assert "status-warning" in page and "Last sweep: never in the 2\xa0days since installation" in page
    assert "it should run every 30\xa0minutes" in page
