"""The block-list dashboard says when the last sweep ran, amber when the next one is overdue."""

from __future__ import annotations

from datetime import timedelta

import pytest
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


def test_before_the_first_sweep_it_says_never(client, login, executive):
    login(client, executive)
    assert "Last sweep: never." in client.get(reverse("dnsbl:dashboard")).content.decode()
