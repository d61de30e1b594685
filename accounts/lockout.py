"""Sign-in lockout and CAPTCHA: failures counted per account and per address in a sliding window.

A lock is not a row of its own: an account (the email typed, whether or not it exists,
so the answer never reveals which accounts exist) or an address is locked while it has
``lockout_threshold`` failures inside the window. IT staff lift a lock by clearing them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Q
from django.utils import timezone

from accounts import audit
from accounts.models import OrganisationSettings, SignInFailure


def _normal(email: str) -> str:
    return (email or "").strip().lower()[:254]


def _recent(org: OrganisationSettings):
    return SignInFailure.objects.filter(created_at__gt=timezone.now() - org.lockout_window)


def failure_counts(email: str, ip: str | None, org: OrganisationSettings | None = None) -> tuple[int, int]:
    org = org or OrganisationSettings.load()
    counts = _recent(org).aggregate(
        account=Count("id", filter=Q(email=_normal(email))) if email else Count("id", filter=Q(pk__in=[])),
        address=Count("id", filter=Q(ip_address=ip)) if ip else Count("id", filter=Q(pk__in=[])),
    )
    return counts["account"], counts["address"]


def is_locked(email: str, ip: str | None) -> bool:
    org = OrganisationSettings.load()
    account, address = failure_counts(email, ip, org)
    return max(account, address) >= org.lockout_threshold


def captcha_required(email: str, ip: str | None) -> bool:
    org = OrganisationSettings.load()
    account, address = failure_counts(email, ip, org)
    return max(account, address) >= org.captcha_after_failures


def record_failure(email: str, ip: str | None, step: str, request=None) -> bool:
    """Count one failure; returns True when it is the one that locks the account or address."""
    org = OrganisationSettings.load()
    email = _normal(email)
    SignInFailure.objects.create(email=email, ip_address=ip, step=step)
    account, address = failure_counts(email, ip, org)
    locked_now = org.lockout_threshold in (account, address)
    if locked_now:
        event = audit.record(
            "login.lockout",
            actor=None,
            target=email,
            request=request,
            account_failures=account,
            address_failures=address,
            window_minutes=org.lockout_window_minutes,
        )
        from accounts import emails

        emails.send_lockout_alert(
            event, ip=ip, account_failures=account, address_failures=address, window_minutes=org.lockout_window_minutes
        )
    return locked_now


def clear_account(email: str) -> None:
    """A successful sign-in clears the account's failures (not the address's)."""
    SignInFailure.objects.filter(email=_normal(email)).delete()


@dataclass(frozen=True)
class Lock:
    kind: str  # "account" or "address"
    value: str
    failures: int
    last_failure: datetime
    until: datetime


def current_locks() -> list[Lock]:
    """Accounts and addresses locked now, for IT staff (two grouped queries)."""
    org = OrganisationSettings.load()
    recent = _recent(org)
    locks = []
    for kind, field in (("account", "email"), ("address", "ip_address")):
        rows = (
            recent.exclude(**{f"{field}__isnull": True})
            .values(field)
            .annotate(failures=Count("id"), last=Max("created_at"))
            .filter(failures__gte=org.lockout_threshold)
            .order_by("-last")
        )
        locks += [
            Lock(kind, row[field], row["failures"], row["last"], row["last"] + org.lockout_window) for row in rows
        ]
    return locks


def lift(kind: str, value: str, *, actor, request=None) -> int:
    field = {"account": "email", "address": "ip_address"}[kind]
    value = _normal(value) if kind == "account" else value
    removed, _ = SignInFailure.objects.filter(**{field: value}).delete()
    audit.record("login.lockout_lifted", actor=actor, target=value, request=request, kind=kind, failures=removed)
    return removed
