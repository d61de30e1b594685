"""Accounts background work: overdue enrolment, password reset requests, stray app passwords, mailbox-password
reminders, device certificates (CRLs and their files, hygiene, renewal reminders), forgetting what has expired."""

from __future__ import annotations

from datetime import timedelta

from captcha.models import CaptchaStore
from celery import shared_task
from django.utils import timezone

from accounts import app_passwords, enrolment, password_reset
from accounts.devices import ca, hygiene, inventory, issuing
from accounts.models import SignInFailure


def run_tick() -> dict:
    """One pass of the accounts tick (beat runs it every minute; every step is idempotent)."""
    overdue = enrolment.notify_overdue()
    resets = password_reset.process_pending()
    revoked = app_passwords.revoke_for_inactive_users()
    reminded = app_passwords.remind_mailbox_password_users()
    certificates_revoked = inventory.revoke_for_inactive_users()
    devices = hygiene.refresh()
    renewals = issuing.remind_expiring()
    crls = refresh_crls()
    # Failures older than a day count for nothing (the longest failure window is 24 h).
    pruned, _ = SignInFailure.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).delete()
    # CAPTCHA pictures expire (CAPTCHA_TIMEOUT); anonymous visitors create them, so they must not pile up.
    captchas, _ = CaptchaStore.objects.filter(expiration__lte=timezone.now()).delete()
    return {
        "overdue_notified": len(overdue),
        "password_resets": resets,
        "app_passwords_revoked": revoked,
        "mailbox_password_reminders": reminded,
        "device_certificates_revoked": certificates_revoked,
        **devices,
        "renewal_reminders": renewals,
        **crls,
        "failures_pruned": pruned,
        "reset_requests_pruned": password_reset.forget_old(),
        "captchas_pruned": captchas,
    }


def refresh_crls() -> dict:
    """Sign wanted or day-old CRLs and write the files nginx reads; nothing to do without a CA or passphrase."""
    try:
        return ca.refresh_crls()
    except ca.CAUnavailable:
        return {"crls_signed": 0, "files_written": 0}


@shared_task(name="accounts.tasks.tick", ignore_result=True)
def tick() -> dict:
    return run_tick()


@shared_task(name="accounts.refresh_device_crls", ignore_result=True)
def refresh_device_crls() -> dict:
    """Published after a revocation, so the CRL follows within seconds; the tick does the same every minute."""
    return refresh_crls()


@shared_task(name="accounts.process_password_reset", ignore_result=True)
def process_password_reset(row_id: int) -> str | None:
    return password_reset.process(row_id)
