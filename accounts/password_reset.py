"""Forgotten passwords: the request is stored and counted, the worker looks the address up and sends.

A request does the same work whether or not the address has an account -- one count of the network's
recent requests, one ``PasswordResetRequest`` row, one audit event, one task published after commit --
so neither the answer nor the time it takes says which addresses exist. The worker
(``process``) looks the address up, and sends the single-use link to an active person with a password,
at most ``reset_emails_per_hour`` times an hour. A client network may ask ``reset_requests_per_hour``
times an hour; beyond that the form says so (that answer is the same for every address too).
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.tokens import default_token_generator
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import audit
from accounts.addresses import MAX_LENGTH, canonical
from accounts.client_address import network_of
from accounts.models import OrganisationSettings, PasswordResetRequest, User
from portal.outbox import publish_on_commit

HOUR = timedelta(hours=1)
Outcome = PasswordResetRequest.Outcome


def network_limited(ip: str | None, org: OrganisationSettings) -> bool:
    recent = PasswordResetRequest.objects.filter(network=network_of(ip), created_at__gt=timezone.now() - HOUR)
    return recent.count() >= org.reset_requests_per_hour


def request_reset(email: str, request) -> PasswordResetRequest:
    """Store the request and hand it to the worker; the same steps for every address."""
    from accounts import tasks

    ip = audit.client_ip(request)
    row = PasswordResetRequest.objects.create(
        email=canonical(email)[:MAX_LENGTH], ip_address=ip, network=network_of(ip)
    )
    audit.record("password.reset_requested", actor=None, target=row.email, request=request)
    publish_on_commit(tasks.process_password_reset, row.pk)
    return row


def process(row_id: int) -> str | None:
    """Answer one request (claimed once: a redelivered task does nothing); its outcome."""
    from accounts import emails

    now = timezone.now()
    if not PasswordResetRequest.objects.filter(pk=row_id, processed_at__isnull=True).update(processed_at=now):
        return None
    row = PasswordResetRequest.objects.get(pk=row_id)
    user = User.objects.with_email(row.email).filter(is_active=True).first()
    if user is None or not user.has_usable_password():
        outcome = Outcome.NO_ACCOUNT
    else:
        sent = PasswordResetRequest.objects.filter(email=row.email, outcome=Outcome.SENT, processed_at__gt=now - HOUR)
        if sent.count() >= OrganisationSettings.load().reset_emails_per_hour:
            outcome = Outcome.LIMITED
        else:
            uid = urlsafe_base64_encode(force_bytes(user.pk))
            emails.send_password_reset(user, uid, default_token_generator.make_token(user), request_id=row.pk)
            outcome = Outcome.SENT
    PasswordResetRequest.objects.filter(pk=row_id).update(outcome=outcome)
    return outcome


def process_pending() -> int:
    """For the accounts tick: requests whose task was never published or was lost (older than a minute)."""
    due = PasswordResetRequest.objects.filter(
        processed_at__isnull=True, created_at__lt=timezone.now() - timedelta(minutes=1)
    )
    return sum(1 for pk in due.values_list("pk", flat=True)[:500] if process(pk))


def forget_old() -> int:
    """Requests older than a day count for nothing."""
    removed, _ = PasswordResetRequest.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).delete()
    return removed
