"""Write one ``recorder.Batch`` to the database (the policy service's database thread, every few seconds).

Totals and relay attempts are upserts that add to what is there (``INSERT ... ON CONFLICT DO UPDATE``,
PostgreSQL and SQLite alike): one statement per batch, whatever the number of messages, and two
services writing the same hour never lose each other's counts. Raises on a database error before the
totals are in; the server then puts the batch back and tries again with the next one. Suspensions
come after, each on its own; one that fails is handed back alone.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.db import connection, transaction

from monitoring.sending.policy.recorder import Batch, Burst, LimitEvent, client_ip

log = logging.getLogger(__name__)

MAX_AUDIT_PER_BATCH = 200

_HOURS_SQL = """
INSERT INTO sending_sendinghour (hour, login, user_id, messages, recipients, attempted, deferred, refused)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (login, hour) DO UPDATE SET
  user_id = COALESCE(excluded.user_id, sending_sendinghour.user_id),
  messages = sending_sendinghour.messages + excluded.messages,
  recipients = sending_sendinghour.recipients + excluded.recipients,
  attempted = sending_sendinghour.attempted + excluded.attempted,
  deferred = sending_sendinghour.deferred + excluded.deferred,
  refused = sending_sendinghour.refused + excluded.refused
"""

_RELAY_SQL = """
INSERT INTO sending_relayattempt
  (hour, client_address, attempts, first_at, last_at, last_sender, last_recipient, helo)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (client_address, hour) DO UPDATE SET
  attempts = sending_relayattempt.attempts + excluded.attempts,
  last_at = excluded.last_at,
  last_sender = excluded.last_sender,
  last_recipient = excluded.last_recipient,
  helo = excluded.helo
"""


def _when(at: float) -> datetime:
    return datetime.fromtimestamp(at, tz=UTC)


def write(batch: Batch) -> list[Burst]:
    """Write the batch; the bursts whose suspension could not be written (to try again), [] when all were."""
    with transaction.atomic():
        existing = _existing_users(batch)
        _write_hours(batch, existing)
        _write_refusals(batch, existing)
        _write_relay(batch)
        for event in batch.limit_events:
            _limit_alert(event, existing)
    # Each suspension in a transaction of its own: one that fails must not undo the totals, nor the others.
    failed = []
    for burst in batch.bursts:
        try:
            _suspend(burst)
        except Exception as exc:
            log.error("cannot suspend the sending of user %s (%s: %s); will retry", burst.user_id,
                      exc.__class__.__name__, exc)  # fmt: skip
            connection.close()
            failed.append(burst)
    return failed


def _existing_users(batch: Batch) -> set[int]:
    """Users still in the database (one deleted since the snapshot is written without its link)."""
    from accounts.models import User

    ids = {t.user_id for t in batch.hours.values()} | {r.user_id for r in batch.refusals.values()}
    ids |= {e.user_id for e in batch.limit_events}
    ids.discard(None)
    return set(User.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()


def _write_hours(batch: Batch, existing: set[int]) -> None:
    rows = [
        (_when(hour), login[:254], t.user_id if t.user_id in existing else None, t.messages, t.recipients,
         t.attempted, t.deferred, t.refused)
        for (login, hour), t in batch.hours.items()
    ]  # fmt: skip
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(_HOURS_SQL, rows)


def _write_refusals(batch: Batch, existing: set[int]) -> None:
    from accounts import audit
    from monitoring.sending.models import PolicyRefusal

    items = sorted(batch.refusals.items(), key=lambda item: item[1].first_at)
    PolicyRefusal.objects.bulk_create(
        [
            PolicyRefusal(
                first_at=_when(r.first_at), last_at=_when(r.last_at), login=login[:254],
                user_id=r.user_id if r.user_id in existing else None, kind=rule, detail=detail[:254],
                client_address=client_ip(ip) or None, count=r.count,
            )
            for (login, rule, detail, ip), r in items
        ],
        batch_size=500,
    )  # fmt: skip
    for (login, rule, detail, ip), r in items[:MAX_AUDIT_PER_BATCH]:
        action = "sending.deferred" if rule in PolicyRefusal.DEFERRALS else "sending.refused"
        audit.record(
            action, target=login[:300], ip=client_ip(ip) or None, rule=rule, detail=detail, count=r.count,
            first_at=_when(r.first_at).isoformat(), last_at=_when(r.last_at).isoformat(),
        )  # fmt: skip
    rest = sum(r.count for _, r in items[MAX_AUDIT_PER_BATCH:]) + batch.dropped
    if rest:
        audit.record("sending.refused_unlisted", target="sending guard", count=rest)
    if batch.malformed:
        audit.record("sending.malformed_requests", target="sending guard", count=batch.malformed)


def _write_relay(batch: Batch) -> None:
    from accounts import audit

    rows = [
        (_when(hour), ip, r.attempts, _when(r.first_at), _when(r.last_at), r.sender, r.recipient, r.helo)
        for (ip, hour), r in batch.relay.items()
    ]
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.executemany(_RELAY_SQL, rows)
    for (ip, _), r in sorted(batch.relay.items(), key=lambda item: -item[1].attempts)[:MAX_AUDIT_PER_BATCH]:
        audit.record(
            "sending.relay_attempts", target=ip, ip=ip, count=r.attempts, last_sender=r.sender,
            last_recipient=r.recipient, helo=r.helo,
        )  # fmt: skip


def _limit_alert(event: LimitEvent, existing: set[int]) -> None:
    from accounts import audit
    from accounts.models import User
    from monitoring.sending import emails

    user = User.objects.filter(pk=event.user_id).first() if event.user_id in existing else None
    audit.record(
        "sending.soft_mark" if event.soft else "sending.limit_reached",
        target=event.login[:300], rule=event.rule, limit=event.limit, window=_when(event.window_start).isoformat(),
    )  # fmt: skip
    emails.send_limit_alert(event, user)


def _suspend(burst: Burst) -> None:
    from accounts.models import User
    from monitoring.sending import suspensions

    user = User.objects.filter(pk=burst.user_id).first()
    if user is None:
        return
    usual = f"usual hour {burst.usual_hour}" if burst.usual_hour else "little history"
    reason = f"Sending burst: {burst.tried} recipients tried within an hour ({usual}, threshold {burst.threshold})"
    evidence = {
        "tried_last_hour": burst.tried,
        "threshold": burst.threshold,
        "usual_hour": burst.usual_hour,
        "login": burst.login,
        "client_address": client_ip(burst.client_address),
        "at": _when(burst.at).isoformat(),
    }
    suspensions.suspend(user, reason=reason, evidence=evidence)
