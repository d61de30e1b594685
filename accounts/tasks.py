"""Accounts background work: telling IT staff about overdue enrolment, pruning old sign-in failures."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from accounts import enrolment
from accounts.models import SignInFailure


def run_tick() -> dict:
    """One pass of the accounts tick (beat runs it every minute; every step is idempotent)."""
    overdue = enrolment.notify_overdue()
    # Failures older than a day count for nothing (the longest lockout window is 24 h).
    pruned, _ = SignInFailure.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).delete()
    return {"overdue_notified": len(overdue), "failures_pruned": pruned}


@shared_task(name="accounts.tasks.tick", ignore_result=True)
def tick() -> dict:
    return run_tick()
