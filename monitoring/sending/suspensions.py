"""Suspending a person's sending (the burst rule, or IT staff by hand) and lifting it (IT staff, with a reason).

A suspension is one ``SendingSuspension`` row (at most one open per person, a database constraint) plus
the person's send-scoped app passwords suspended through ``accounts.app_passwords`` (which owns them):
SMTP AUTH with them fails from the verifier's next reload, and the policy service refuses the person's
mail whatever password they log in with. Everything is audited and bumps the service's version.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import app_passwords, audit
from accounts.models import User
from monitoring.sending import emails
from monitoring.sending.models import SendingState, SendingSuspension


def open_suspension(user: User) -> SendingSuspension | None:
    return SendingSuspension.objects.open().filter(user=user).first()


def suspend(user: User, *, reason: str, evidence: dict | None = None, by: User | None = None, request=None):
    """Open a suspension for ``user`` and suspend their sending; None when one is open already."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                suspension = SendingSuspension.objects.create(
                    user=user, reason=reason[:300], evidence=evidence or {}, suspended_by=by
                )
        except IntegrityError:
            return None  # another mail server (or IT staff) got there first
        count = app_passwords.suspend_sending(user, reason=reason[:200], by=by)
        suspension.app_passwords_suspended = count
        suspension.save(update_fields=["app_passwords_suspended"])
        audit.record(
            "sending.suspended",
            actor=by,
            target=user.email,
            request=request,
            reason=reason[:300],
            app_passwords=count,
            **({"evidence": evidence} if evidence else {}),
        )
        SendingState.bump()
        emails.send_suspended(suspension)
    return suspension


def close(user: User, *, by: User | None, reason: str, request=None) -> SendingSuspension | None:
    """Close ``user``'s open suspension (audited, the person told); None when there was none."""
    with transaction.atomic():
        suspension = SendingSuspension.objects.select_for_update().open().filter(user=user).first()
        if suspension is None:
            return None
        suspension.lifted_at = timezone.now()
        suspension.lifted_by = by
        suspension.lift_reason = reason[:300]
        suspension.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
        audit.record("sending.suspension_lifted", actor=by, target=user.email, request=request, reason=reason[:300])
        SendingState.bump()
        emails.send_lifted(suspension)
    return suspension


def lift(user: User, *, by: User, reason: str, request=None) -> SendingSuspension | None:
    """IT staff let ``user`` send again: the policy service and their app passwords both."""
    with transaction.atomic():
        suspension = close(user, by=by, reason=reason, request=request)
        # Also tells accounts.signals.sending_reinstated's receivers; the suspension is closed already.
        app_passwords.reinstate_sending(user, by=by, reason=reason, request=request)
    return suspension
