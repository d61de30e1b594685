"""Sign-in failures: soft lockout per account, a CAPTCHA per client network (OWASP ASVS 4.0.3 V2.2.1).

Per **account** (the address typed, in canonical form, whether or not it has an account, so the answer
never reveals which accounts exist), counting wrong passwords at sign-in and on the signed-in pages that
ask for it again (confirm password, change password) inside ``lockout_window_minutes``:

- after ``captcha_after_failures`` the sign-in form also asks for the characters in a picture, and each
  further try must wait longer: 1, 2, 4 … seconds after the last failure, at most ``MAX_DELAY_SECONDS``;
- after ``hard_lock_after`` the account is locked (an ``AccountLock`` row) for ``lockout_window_minutes``,
  or until the person resets their password or IT staff lift it; the person is emailed, IT staff alerted.
  Tries while locked are refused without being counted.

Per **client network** (/24 for IPv4, /64 for IPv6 by default: ``CLIENT_NETWORK_*_PREFIX``), after
``network_captcha_after`` wrong passwords across any accounts, everyone signing in from there is asked
for the picture characters. A network is never locked: the people in an office who did not fail are
never stopped.

Wrong codes (the step after a correct password) are not counted here for the lock: django-otp makes
each next try wait 1, 2, 4 … seconds. They are the stolen-password signal instead: the person is
emailed after ``code_failures_notify`` and IT staff are alerted after ``code_failures_alert``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from accounts import audit
from accounts.addresses import MAX_LENGTH, canonical
from accounts.client_address import network_of
from accounts.models import AccountLock, AuditEvent, OrganisationSettings, SignInFailure, User

# The longest wait between two tries for one account: with it, at most about 60 guesses an hour get
# through (ASVS 2.2.1 asks for no more than 100), and the real person is never kept waiting long.
MAX_DELAY_SECONDS = 60
# Steps that count towards an account's delays and lock (wrong codes have django-otp's own throttle).
PASSWORD_STEPS = (SignInFailure.PASSWORD, SignInFailure.REAUTH)


def account_key(email: str | None) -> str:
    return canonical(email)[:MAX_LENGTH]


def delay_after(failures: int, org: OrganisationSettings) -> int:
    """Seconds the next try must wait after the last of ``failures`` failures."""
    if failures < org.captcha_after_failures:
        return 0
    return min(2 ** (failures - org.captcha_after_failures), MAX_DELAY_SECONDS)


@dataclass(frozen=True)
class AccountState:
    failures: int
    captcha: bool
    wait_seconds: int
    locked_until: datetime | None

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


def _recent(org: OrganisationSettings, now: datetime | None = None) -> QuerySet[SignInFailure]:
    return SignInFailure.objects.filter(created_at__gt=(now or timezone.now()) - org.lockout_window)


def account_state(email: str | None, org: OrganisationSettings | None = None) -> AccountState:
    org = org or OrganisationSettings.load()
    now = timezone.now()
    key = account_key(email)
    counts = (
        _recent(org, now)
        .filter(email=key, step__in=PASSWORD_STEPS)
        .aggregate(failures=Count("id"), last=Max("created_at"))
    )
    failures, last = counts["failures"], counts["last"]
    lock = AccountLock.objects.filter(email=key, locked_until__gt=now).values_list("locked_until", flat=True).first()
    if not failures:
        return AccountState(0, False, 0, lock)
    wait = max(0, math.ceil((last - now).total_seconds() + delay_after(failures, org)))
    return AccountState(failures, failures >= org.captcha_after_failures, wait, lock)


def network_failures(ip: str | None, org: OrganisationSettings | None = None) -> int:
    network = network_of(ip)
    if not network:
        return 0
    org = org or OrganisationSettings.load()
    return _recent(org).filter(network=network, step=SignInFailure.PASSWORD).count()


def network_needs_captcha(ip: str | None, org: OrganisationSettings | None = None) -> bool:
    org = org or OrganisationSettings.load()
    return network_failures(ip, org) >= org.network_captcha_after


def record_failure(email: str | None, ip: str | None, step: str, request=None) -> AccountState:
    """Count one wrong password (sign-in or while signed in); the account's state afterwards."""
    org = OrganisationSettings.load()
    key = account_key(email)
    SignInFailure.objects.create(email=key, ip_address=ip, network=network_of(ip), step=step)
    state = account_state(key, org)
    if state.failures >= org.hard_lock_after and not state.locked:
        state = _lock(key, ip, state, org, request)
    return state


def _lock(key: str, ip: str | None, state: AccountState, org: OrganisationSettings, request) -> AccountState:
    from accounts import emails

    now = timezone.now()
    lock, _ = AccountLock.objects.update_or_create(
        email=key, defaults={"failures": state.failures, "locked_at": now, "locked_until": now + org.lockout_window}
    )
    state = AccountState(state.failures, state.captcha, state.wait_seconds, lock.locked_until)
    event = audit.record(
        "login.lockout",
        actor=None,
        target=key,
        request=request,
        account_failures=state.failures,
        window_minutes=org.lockout_window_minutes,
    )
    user = User.objects.with_email(key).filter(is_active=True).first()
    if user is not None:
        emails.send_account_locked(user, event, ip=ip, locked_until=state.locked_until)
    emails.send_lockout_alert(
        event, ip=ip, account_failures=state.failures, network=network_of(ip), window_minutes=org.lockout_window_minutes
    )
    return state


def record_code_failure(user: User, ip: str | None, event: AuditEvent) -> int:
    """Count one wrong (or replayed) code after a correct password; tell the person, then IT, at the thresholds."""
    from accounts import emails

    org = OrganisationSettings.load()
    key = account_key(user.email)
    SignInFailure.objects.create(email=key, ip_address=ip, network=network_of(ip), step=SignInFailure.OTP)
    failures = _recent(org).filter(email=key, step=SignInFailure.OTP).count()
    if failures == org.code_failures_notify:
        emails.send_wrong_codes_notice(user, event, ip=ip, failures=failures)
    if failures == org.code_failures_alert:
        emails.send_wrong_codes_alert(user, event, ip=ip, failures=failures)
    return failures


def clear_account(email: str | None) -> None:
    """A successful sign-in or password reset clears the account's failures and lock (not its network's)."""
    SignInFailure.objects.filter(email=account_key(email)).delete()
    AccountLock.objects.filter(email=account_key(email)).delete()


@dataclass(frozen=True)
class Lock:
    kind: str  # "account" (locked) or "network" (asks everyone there for a CAPTCHA)
    value: str
    failures: int
    last_failure: datetime
    until: datetime


def current_locks() -> list[Lock]:
    """Accounts locked now and networks asked for a CAPTCHA now, for IT staff (two queries)."""
    org = OrganisationSettings.load()
    locks = [
        Lock("account", lock.email, lock.failures, lock.locked_at, lock.locked_until)
        for lock in AccountLock.objects.filter(locked_until__gt=timezone.now())
    ]
    networks = (
        _recent(org)
        .filter(step=SignInFailure.PASSWORD)
        .exclude(network="")
        .values("network")
        .annotate(failures=Count("id"), last=Max("created_at"))
        .filter(failures__gte=org.network_captcha_after)
        .order_by("-last")
    )
    locks += [Lock("network", n["network"], n["failures"], n["last"], n["last"] + org.lockout_window) for n in networks]
    return locks


def lift(kind: str, value: str, *, actor, request=None) -> int:
    if kind == "account":
        value = account_key(value)
        AccountLock.objects.filter(email=value).delete()
        rows = SignInFailure.objects.filter(email=value, step__in=PASSWORD_STEPS)
    else:
        rows = SignInFailure.objects.filter(network=value, step=SignInFailure.PASSWORD)
    removed, _ = rows.delete()
    audit.record("login.lockout_lifted", actor=actor, target=value, request=request, kind=kind, failures=removed)
    return removed
