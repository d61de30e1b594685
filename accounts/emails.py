"""The accounts area's emails: one function per kind, each a queued row sent by a task.

Views never talk to the mail server: they queue an ``AccountEmail`` (unique ``key`` =
idempotent) and ask the worker to send it after the transaction commits; the
accounts tick retries whatever is still queued (an SMTP outage leaves rows queued).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import AccountEmail, Invitation, User
from accounts.roles import Role

log = logging.getLogger(__name__)

# A claimed row whose worker died is handed out again after this long.
STALE_CLAIM = timedelta(minutes=10)


def _context(**extra) -> dict:
    return {"organisation_name": settings.ORGANISATION_NAME, "base_url": settings.PORTAL_BASE_URL, **extra}


def build(kind: str, key: str, to: list[str], context: dict) -> AccountEmail:
    """Render ``emails/accounts-<kind>-{subject.txt,body.txt,body.html}`` into an unsaved row."""
    ctx = _context(**context)
    name = f"emails/accounts-{kind}"
    return AccountEmail(
        key=key,
        kind=kind,
        to=to,
        subject=" ".join(render_to_string(f"{name}-subject.txt", ctx).split())[:300],
        body_text=render_to_string(f"{name}-body.txt", ctx),
        body_html=render_to_string(f"{name}-body.html", ctx),
    )


def queue(kind: str, key: str, to: list[str], context: dict) -> AccountEmail:
    """Store the email once under ``key`` and ask the worker to send it after commit."""
    existing = AccountEmail.objects.filter(key=key).first()
    if existing is not None:
        return existing
    email = build(kind, key, to, context)
    try:
        with transaction.atomic():
            email.save()
    except IntegrityError:
        # A concurrent request queued the same key first (e.g. one replayed code sent twice at once).
        return AccountEmail.objects.get(key=key)
    transaction.on_commit(lambda: _enqueue(email.pk))
    return email


def _enqueue(email_id: int | None = None) -> None:
    """Hand the send to the worker; without a broker the accounts tick picks the row up later."""
    from accounts import tasks

    try:
        # No publish retries: with the broker down the request must not hang; the tick sends it later.
        if email_id is None:
            tasks.deliver_due_emails.apply_async(retry=False)
        else:
            tasks.deliver_email.apply_async((email_id,), retry=False)
    except Exception as exc:
        log.warning("could not enqueue account email %s: %s", email_id, exc.__class__.__name__)


def queue_many(emails: list[AccountEmail]) -> None:
    """Store many built emails (bulk invitations); one task sends them all."""
    AccountEmail.objects.bulk_create(emails, batch_size=500)
    transaction.on_commit(_enqueue)


def deliver(email_id: int) -> str:
    """Send one queued email; safe to call twice (the claim is a conditional update)."""
    now = timezone.now()
    claimed = AccountEmail.objects.filter(pk=email_id, status=AccountEmail.QUEUED).update(
        status=AccountEmail.SENDING, claimed_at=now
    )
    if not claimed:
        return "skipped"
    email = AccountEmail.objects.get(pk=email_id)
    message = EmailMultiAlternatives(email.subject, email.body_text, settings.DEFAULT_FROM_EMAIL, email.to)
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    try:
        message.send()
    except Exception as exc:
        email.attempts += 1
        email.last_error = f"{exc.__class__.__name__}: {exc}"[:500]
        email.status = AccountEmail.FAILED if email.attempts >= AccountEmail.MAX_ATTEMPTS else AccountEmail.QUEUED
        email.save(update_fields=["attempts", "last_error", "status"])
        log.warning("account email %s (%s) not sent: %s", email.pk, email.kind, email.last_error)
        return email.status
    # The bodies may hold a one-time link: keep only what the audit needs.
    AccountEmail.objects.filter(pk=email.pk).update(
        status=AccountEmail.SENT, sent_at=timezone.now(), attempts=email.attempts + 1, body_text="", body_html=""
    )
    return AccountEmail.SENT


def deliver_due() -> dict[str, int]:
    """Send every queued email (and ones whose claim went stale). Called by the accounts tick."""
    AccountEmail.objects.filter(status=AccountEmail.SENDING, claimed_at__lt=timezone.now() - STALE_CLAIM).update(
        status=AccountEmail.QUEUED
    )
    results: dict[str, int] = {}
    for pk in AccountEmail.objects.filter(status=AccountEmail.QUEUED).order_by("pk").values_list("pk", flat=True):
        outcome = deliver(pk)
        results[outcome] = results.get(outcome, 0) + 1
    return results


# --- one function per kind of email ------------------------------------------------


def invitation_email(invitation: Invitation, token: str) -> AccountEmail:
    from django.urls import reverse

    link = absolute(reverse("invitation_accept", kwargs={"token": token}))
    return build(
        "invitation",
        f"invitation:{invitation.token_hash}",
        [invitation.user.email],
        {"user": invitation.user, "link": link, "expires_at": invitation.expires_at, "inviter": invitation.created_by},
    )


def send_invitation(invitation: Invitation, token: str) -> AccountEmail:
    email = invitation_email(invitation, token)
    email.save()
    transaction.on_commit(lambda: _enqueue(email.pk))
    return email


def absolute(path: str) -> str:
    """An absolute link for an email (outside a request ``reverse`` lacks FORCE_SCRIPT_NAME)."""
    script = (settings.FORCE_SCRIPT_NAME or "").rstrip("/")
    if script and not path.startswith(script + "/"):
        path = script + path
    return settings.PORTAL_BASE_URL + path


def send_token_reset_notice(user: User, *, actor: User, reason: str) -> AccountEmail:
    now = timezone.now()
    return queue(
        "token-reset",
        f"token-reset:{user.pk}:{now.timestamp()}",
        [user.email],
        {"user": user, "actor": actor, "reason": reason, "when": now},
    )


def send_otp_reuse_alert(user: User, *, device_name: str, time_step: int, ip: str | None) -> AccountEmail:
    # One alert per replayed code (device and time step), however often it is tried.
    return queue(
        "otp-reuse",
        f"otp-reuse:{user.pk}:{device_name}:{time_step}",
        [user.email],
        {"user": user, "device_name": device_name, "ip": ip or "unknown", "when": timezone.now()},
    )


def send_credentials_changed(user: User, what: str, ip: str | None = None) -> AccountEmail:
    """Tell the user that their password or tokens changed, so that a change they did not make stands out."""
    now = timezone.now()
    return queue(
        "credentials-changed",
        f"credentials-changed:{user.pk}:{now.timestamp()}",
        [user.email],
        {"user": user, "what": what, "when": now, "ip": ip or "unknown"},
    )


def send_password_reset(user: User, link: str) -> AccountEmail:
    now = timezone.now()
    return queue(
        "password-reset", f"password-reset:{user.pk}:{now.timestamp()}", [user.email], {"user": user, "link": link}
    )


def send_overdue_notice(overdue: list[User]) -> AccountEmail | None:
    """Tell IT staff who has passed the enrolment deadline (the caller has claimed these users)."""
    recipients = list(
        User.objects.filter(role=Role.IT_STAFF, is_active=True).order_by("email").values_list("email", flat=True)
    )
    if not overdue or not recipients:
        return None
    now = timezone.now()
    return queue("overdue", f"otp-overdue:{now.timestamp()}", recipients, {"overdue": overdue})
