"""What the verifier remembers between database writes: uses, refusals, alerts. No I/O on the hot path.

The event loop calls ``note_*`` for every answer (dictionary updates only). Every few seconds the
server ``take``s a ``Batch`` and ``write``s it in its database thread:

- last use of an app password (time, service, client address): at most one write a minute per
  password; the first use at once, claimed with a conditional update and audited once;
- per person (``MailLoginSummary``): mailbox-password logins (for the coverage page and the
  transition reminders) and refused logins, at most one write a minute per person for the former;
- refused logins in the audit log, one event per (login, reason, address, service) and batch with a
  ``count``, at most ``MAX_AUDIT_PER_BATCH`` events (the rest summed into one event);
- an IT alert when one person collects ``alert_threshold`` refusals within ``alert_minutes``.

If the process dies, what was not yet written is lost: at most one batch interval of refusals and
first uses, and up to a minute of "last used" times. Nothing that decides a login lives here.
A batch that fails to write (database down) is put back and retried with the next one.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from accounts.addresses import canonical
from accounts.mailauth.decision import Answer, Policy, Verdict

log = logging.getLogger(__name__)

LAST_USED_EVERY = 60.0  # seconds between "last used" writes for one password or person
MAX_AUDIT_PER_BATCH = 200
MAX_REFUSAL_KEYS = 5000


@dataclass
class Use:
    at: float
    service: str
    ip: str | None


@dataclass
class Refusals:
    user_id: int | None
    count: int = 0
    first_at: float = 0.0
    last_at: float = 0.0


@dataclass
class Alert:
    user_id: int
    email: str
    count: int
    minutes: int
    addresses: list[tuple[str, int]]
    at: float


@dataclass
class Batch:
    last_used: dict[int, Use] = field(default_factory=dict)
    first_used: dict[int, tuple[int, str, str, Use]] = field(default_factory=dict)  # pw -> (user, email, name, use)
    mailbox: dict[int, tuple[Use, int]] = field(default_factory=dict)  # user -> (last use, logins)
    refusals: dict[tuple[str, str, str, str], Refusals] = field(default_factory=dict)  # (login, reason, ip, svc)
    alerts: list[Alert] = field(default_factory=list)
    dropped: int = 0

    def __bool__(self) -> bool:
        return bool(self.last_used or self.first_used or self.mailbox or self.refusals or self.alerts or self.dropped)


def _ip(value: str) -> str | None:
    """A valid address or None: Dovecot sends what it has, the database column takes only addresses."""
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


class Recorder:
    def __init__(self) -> None:
        self.pending = Batch()
        self.written_at: dict[tuple[str, int], float] = {}  # ("pw"|"user", id) -> last write
        self.first_claimed: set[int] = set()
        self.recent_refusals: dict[int, deque[tuple[float, str]]] = {}
        self.alerted_at: dict[int, float] = {}

    # --- event loop side -------------------------------------------------------------------

    def note_answer(self, answer: Answer, *, login: str, service: str, ip: str, now: float, policy: Policy) -> None:
        if answer.verdict == Verdict.OK and answer.password is not None and answer.user is not None:
            use = Use(now, service, _ip(ip))
            password = answer.password
            self.pending.last_used[password.id] = use
            if not password.first_used and password.id not in self.first_claimed:
                self.first_claimed.add(password.id)
                self.pending.first_used[password.id] = (answer.user.id, answer.user.email, password.name, use)
        elif answer.verdict in (Verdict.FAIL, Verdict.UNKNOWN):
            user_id = answer.user.id if answer.user else None
            email = answer.user.email if answer.user else canonical(login)
            self.note_refusal(user_id, email, answer.reason, service, ip, now, policy)

    def note_mailbox(
        self, *, user_id: int | None, email: str, ok: bool, service: str, ip: str, now: float, policy: Policy
    ) -> None:
        """A MAILBOX report: the site's passdb accepted (or refused) someone's mailbox password."""
        if not ok:
            self.note_refusal(user_id, email, "wrong mailbox password", service, ip, now, policy)
        elif user_id is not None:
            _, logins = self.pending.mailbox.get(user_id, (None, 0))
            self.pending.mailbox[user_id] = (Use(now, service, _ip(ip)), logins + 1)

    def note_refusal(
        self, user_id: int | None, email: str, reason: str, service: str, ip: str, now: float, policy: Policy
    ) -> None:
        key = (email, reason, ip, service)
        counts = self.pending.refusals.get(key)
        if counts is None:
            if len(self.pending.refusals) >= MAX_REFUSAL_KEYS:
                self.pending.dropped += 1
                return
            counts = self.pending.refusals[key] = Refusals(user_id, first_at=now)
        counts.count += 1
        counts.last_at = now
        if user_id is not None:
            self._watch_for_guessing(user_id, email, ip, now, policy)

    def _watch_for_guessing(self, user_id: int, email: str, ip: str, now: float, policy: Policy) -> None:
        window = policy.alert_minutes * 60
        recent = self.recent_refusals.get(user_id)
        if recent is None or recent.maxlen != policy.alert_threshold:
            recent = self.recent_refusals[user_id] = deque(recent or (), maxlen=policy.alert_threshold)
        recent.append((now, ip))
        if len(recent) < policy.alert_threshold or now - recent[0][0] > window:
            return
        if now - self.alerted_at.get(user_id, -window) < window:
            return  # one alert per person per window
        self.alerted_at[user_id] = now
        addresses = Counter(address or "unknown" for _, address in recent).most_common(5)
        self.pending.alerts.append(Alert(user_id, email, len(recent), policy.alert_minutes, addresses, now))

    def take(self, now: float) -> Batch:
        """What is due for writing now; "last used" updates not yet a minute apart stay pending."""
        batch, self.pending = self.pending, Batch()
        for kind, pending, keep in (
            ("pw", batch.last_used, self.pending.last_used),
            ("user", batch.mailbox, self.pending.mailbox),
        ):
            for key in list(pending):
                if kind == "pw" and key in batch.first_used:
                    self.written_at[(kind, key)] = now
                    continue
                if now - self.written_at.get((kind, key), -LAST_USED_EVERY) < LAST_USED_EVERY:
                    keep[key] = pending.pop(key)
                else:
                    self.written_at[(kind, key)] = now
        return batch

    def put_back(self, batch: Batch) -> None:
        """A batch that could not be written: merge it into what is pending, to try again."""
        for password_id, use in batch.last_used.items():
            self.pending.last_used.setdefault(password_id, use)
            self.written_at.pop(("pw", password_id), None)
        for password_id, claim in batch.first_used.items():
            self.pending.first_used.setdefault(password_id, claim)
        for user_id, (use, logins) in batch.mailbox.items():
            newer, more = self.pending.mailbox.get(user_id, (use, 0))
            self.pending.mailbox[user_id] = (newer, logins + more)
            self.written_at.pop(("user", user_id), None)
        for key, counts in batch.refusals.items():
            mine = self.pending.refusals.setdefault(key, Refusals(counts.user_id, first_at=counts.first_at))
            mine.count += counts.count
            mine.first_at = min(mine.first_at or counts.first_at, counts.first_at)
            mine.last_at = max(mine.last_at, counts.last_at)
        self.pending.alerts[:0] = batch.alerts
        self.pending.dropped += batch.dropped


# --- database side (the verifier's database thread) ---------------------------------------------


def _when(at: float) -> datetime:
    return datetime.fromtimestamp(at, tz=UTC)


def write(batch: Batch) -> None:
    """Write one batch; raises on a database error (the caller puts the batch back)."""
    from django.db import transaction

    with transaction.atomic():
        _write_uses(batch)
        _write_summaries(batch)
        _write_refusal_audit(batch)
        for alert in batch.alerts:
            _raise_alert(alert)


def _write_uses(batch: Batch) -> None:
    from accounts import audit
    from accounts.models import AppPassword, User

    for password_id, (user_id, email, name, use) in batch.first_used.items():
        fields = {"last_used_at": _when(use.at), "last_used_service": use.service[:16], "last_used_ip": use.ip}
        latest = batch.last_used.pop(password_id, None)
        if latest is not None:
            fields.update(last_used_at=_when(latest.at), last_used_service=latest.service[:16], last_used_ip=latest.ip)
        claimed = AppPassword.objects.filter(pk=password_id, first_used_at__isnull=True).update(
            first_used_at=_when(use.at), **fields
        )
        if claimed:
            audit.record(
                "app_password.first_use",
                actor=User.objects.filter(pk=user_id).first(),
                target=email,
                ip=use.ip,
                app_password=password_id,
                name=name,
                service=use.service,
            )
        else:
            AppPassword.objects.filter(pk=password_id).update(**fields)
    # One UPDATE per 500 passwords: a busy morning writes thousands of "last used" times a minute.
    rows = [
        AppPassword(pk=password_id, last_used_at=_when(use.at), last_used_service=use.service[:16], last_used_ip=use.ip)
        for password_id, use in batch.last_used.items()
    ]
    AppPassword.objects.bulk_update(rows, ["last_used_at", "last_used_service", "last_used_ip"], batch_size=500)


def _write_summaries(batch: Batch) -> None:
    from django.db.models import F

    from accounts.models import MailLoginSummary, User

    refused: dict[int, tuple[int, float, str, str]] = {}
    for (_, reason, ip, _), counts in batch.refusals.items():
        if counts.user_id is None:
            continue
        total, last_at, last_ip, last_reason = refused.get(counts.user_id, (0, 0.0, "", ""))
        if counts.last_at >= last_at:
            last_at, last_ip, last_reason = counts.last_at, ip, reason
        refused[counts.user_id] = (total + counts.count, last_at, last_ip, last_reason)
    existing = set(User.objects.filter(pk__in=refused.keys() | batch.mailbox.keys()).values_list("pk", flat=True))
    for user_id in existing:
        MailLoginSummary.objects.get_or_create(user_id=user_id)
        fields: dict = {}
        if user_id in batch.mailbox:
            use, logins = batch.mailbox[user_id]
            fields.update(
                mailbox_password_last_used_at=_when(use.at),
                mailbox_password_last_service=use.service[:16],
                mailbox_password_last_ip=use.ip,
                mailbox_password_logins=F("mailbox_password_logins") + logins,
            )
        if user_id in refused:
            total, last_at, last_ip, last_reason = refused[user_id]
            fields.update(
                refused=F("refused") + total,
                refused_last_at=_when(last_at),
                refused_last_ip=_ip(last_ip),
                refused_last_reason=last_reason[:80],
            )
        MailLoginSummary.objects.filter(pk=user_id).update(**fields)


def _write_refusal_audit(batch: Batch) -> None:
    from accounts import audit

    items = sorted(batch.refusals.items(), key=lambda item: item[1].first_at)
    for (login, reason, ip, service), counts in items[:MAX_AUDIT_PER_BATCH]:
        audit.record(
            "mail_auth.refused",
            target=login,
            ip=_ip(ip),
            reason=reason,
            service=service,
            count=counts.count,
            first_at=_when(counts.first_at).isoformat(),
            last_at=_when(counts.last_at).isoformat(),
        )
    rest = sum(counts.count for _, counts in items[MAX_AUDIT_PER_BATCH:]) + batch.dropped
    if rest:
        audit.record("mail_auth.refused_unlisted", target="mail logins", count=rest)


def _raise_alert(alert: Alert) -> None:
    from accounts import audit, emails

    audit.record(
        "mail_auth.refusal_alert",
        target=alert.email,
        count=alert.count,
        minutes=alert.minutes,
        addresses=[f"{address} ({count})" for address, count in alert.addresses],
    )
    emails.send_mail_refusals_alert(alert)
