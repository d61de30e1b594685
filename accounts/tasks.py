"""Accounts background work: overdue enrolment, password reset requests, and forgetting what has expired."""

from __future__ import annotations

from datetime import timedelta

from captcha.models import CaptchaStore
from celery import shared_task
from django.utils import timezone

from accounts import enrolment, password_reset
from accounts.models import SignInFailure


def run_tick() -> dict:
    """One pass of the accounts tick (beat runs it every minute; every step is idempotent)."""
    overdue = enrolment.notify_overdue()
    resets = password_reset.process_pending()
    # Failures older than a day count for nothing (the longest failure window is 24 h).
    pruned, _ = SignInFailure.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).delete()
    # CAPTCHA pictures expire (CAPTCHA_TIMEOUT); anonymous visitors create them, so they must not pile up.
    captchas, _ = CaptchaStore.objects.filter(expiration__lte=timezone.now()).delete()
    return {
        "overdue_notified": len(overdue),
        "password_resets": resets,
        "failures_pruned": pruned,
        "reset_requests_pruned": password_reset.forget_old(),
        "captchas_pruned": captchas,
    }


@shared_task(name="accounts.tasks.tick", ignore_result=True)
def tick() -> dict:
    return run_tick()


@shared_task(name="accounts.process_password_reset", ignore_result=True)
def process_password_reset(row_id: int) -> str | None:
    return password_reset.process(row_id)
