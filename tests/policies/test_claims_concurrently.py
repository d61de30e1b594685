"""Many runners at once (threads with their own database connections): each occurrence and row is taken once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone

from policies import dispatch
from policies.models import CampaignRun, Delivery
from portal import sending


def race(function, runners: int = 8) -> list:
    results: list = []
    barrier = threading.Barrier(runners)

    def run() -> None:
        try:
            barrier.wait()
            results.append(function())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_ticks_claim_an_occurrence_once_and_a_row_is_claimed_once(make_campaign, make_user):
    make_user("one@example.com")
    make_campaign()
    now = timezone.now()
    runs = race(lambda: len(dispatch.claim_due_campaigns(now)))
    assert sorted(runs) == [0] * 7 + [1]
    assert CampaignRun.objects.count() == 1
    dispatch.fan_out(CampaignRun.objects.get().pk, enqueue=lambda ids: None)
    delivery = Delivery.objects.get()
    claims = race(lambda: sending.claim(Delivery, delivery.pk, timezone.now()))
    assert sorted(claims) == [False] * 7 + [True]
    delivery.refresh_from_db()
    assert delivery.attempts == 1
