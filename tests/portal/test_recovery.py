"""Recovery from evidence: worker heartbeats, abandoned claims, lost tasks, an unreachable mail server."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from portal import outbox, sending, workers
from portal.models import OutboxMessage, SendingWorker

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status
TICK = dt.timedelta(seconds=30)


def email(n: int = 0) -> OutboxMessage:
    return outbox.send_email("accounts-overdue", f"t:recovery:{n}", [f"p{n}@example.com"], {"overdue": []})


def worker(name: str, last_seen: dt.datetime, busy_since: dt.datetime | None = None) -> str:
    SendingWorker.objects.update_or_create(
        name=name,
        defaults={"host": "h", "pid": 1, "started_at": last_seen, "last_seen": last_seen, "busy_since": busy_since},
    )
    return name


def claimed_by(name: str, row: OutboxMessage, at: dt.datetime, *, handed_over: bool = False) -> None:
    assert sending.claim(OutboxMessage, row.pk, at, name)
    if handed_over:
        assert sending.hand_over(OutboxMessage, row.pk, at)


def test_it_takes_back_a_claim_at_the_first_tick_after_its_worker_missed_its_beats(settings):
    settings.WORKER_HEARTBEAT_SECONDS, settings.WORKER_MISSED_BEATS = 10, 3
    row = email()
    now = timezone.now()
    holder = worker("host:41:aa", now, busy_since=now)
    claimed_by(holder, row, now)
    assert sending.recover_abandoned(OutboxMessage, now + dt.timedelta(seconds=29)) == {"resent": 0, "uncertain": 0}
    assert sending.recover_abandoned(OutboxMessage, now + dt.timedelta(seconds=31)) == {"resent": 1, "uncertain": 0}
    row.refresh_from_db()
    assert (row.status, row.claimed_by, row.queued_at) == (Status.PENDING, "", None)
    assert row.last_error == sending.RESENT_NOTE


def test_a_handed_over_row_of_a_dead_worker_is_uncertain_and_never_sent_again(smtp_server):
    row = email()
    now = timezone.now()
    claimed_by(worker("host:42:aa", now, busy_since=now), row, now, handed_over=True)
    later = now + workers.timeout() + dt.timedelta(seconds=1)
    assert sending.recover_abandoned(OutboxMessage, later) == {"resent": 0, "uncertain": 1}
    row.refresh_from_db()
    assert row.status == Status.UNCERTAIN and row.sent_at is None and row.get_status_display() == "Delivery uncertain"
    assert sending.to_publish(OutboxMessage, later, tick=TICK, queued_tasks=lambda: 0) == []
    assert outbox.summary([row]) == (Status.UNCERTAIN, "delivery uncertain for 1 of 1")


def test_send_again_puts_an_uncertain_row_back_and_a_send_clears_the_note(smtp_server):
    row = email()
    now = timezone.now()
    claimed_by(worker("host:43:aa", now, busy_since=now), row, now, handed_over=True)
    sending.recover_abandoned(OutboxMessage, now + workers.timeout() + dt.timedelta(seconds=1))
    assert outbox.retry(OutboxMessage.objects.filter(pk=row.pk)) == 1
    outbox.send_emails([row.pk])
    row.refresh_from_db()
    assert (row.status, row.last_error, len(smtp_server.messages)) == (Status.SENT, "", 1)


def test_a_live_worker_that_moved_on_to_a_later_batch_gives_its_old_claim_back():
    row = email()
    now = timezone.now()
    holder = worker("host:44:aa", now, busy_since=now)
    claimed_by(holder, row, now + dt.timedelta(seconds=1))
    # Its task died on a database error; it beats again, busy with a batch that started later.
    later = now + dt.timedelta(seconds=5)
    worker(holder, later, busy_since=later - dt.timedelta(seconds=1))
    assert sending.recover_abandoned(OutboxMessage, later) == {"resent": 1, "uncertain": 0}


def test_a_live_worker_still_busy_with_the_batch_keeps_its_claim():
    row = email()
    now = timezone.now()
    holder = worker("host:45:aa", now, busy_since=now)
    claimed_by(holder, row, now + dt.timedelta(seconds=1))
    later = now + dt.timedelta(seconds=20)
    worker(holder, later, busy_since=now)  # still in the same batch (a slow server)
    assert sending.recover_abandoned(OutboxMessage, later) == {"resent": 0, "uncertain": 0}
    # A beat written before the claim proves nothing about it, even one that says idle.
    worker(holder, now, busy_since=None)
    assert sending.recover_abandoned(OutboxMessage, later) == {"resent": 0, "uncertain": 0}


def test_a_claim_by_a_process_that_never_beats_waits_for_the_fixed_limit():
    row = email()
    now = timezone.now()
    claimed_by("shell:46:aa", row, now)
    assert sending.recover_abandoned(OutboxMessage, now + dt.timedelta(minutes=9))["resent"] == 0
    assert (
        sending.recover_abandoned(OutboxMessage, now + sending.STUCK_SENDING_AFTER + dt.timedelta(seconds=1))["resent"]
        == 1
    )


def test_rows_reserved_by_a_dead_workers_batch_are_published_at_the_next_tick():
    rows = [email(n) for n in range(3)]
    now = timezone.now()
    holder = worker("host:47:aa", now, busy_since=now)
    sending.reserve(OutboxMessage, [r.pk for r in rows], now, holder)
    assert sending.to_publish(OutboxMessage, now + dt.timedelta(seconds=5), tick=TICK, queued_tasks=lambda: 0) == []
    later = now + workers.timeout() + dt.timedelta(seconds=1)
    ids = sending.to_publish(OutboxMessage, later, tick=TICK, queued_tasks=lambda: 100)
    assert ids == [r.pk for r in rows]
    sending.mark_published(OutboxMessage, ids, later)
    assert sending.to_publish(OutboxMessage, later + dt.timedelta(seconds=1), tick=TICK, queued_tasks=lambda: 0) == []


def test_rows_whose_tasks_the_broker_lost_are_published_at_the_next_tick():
    rows = [email(n) for n in range(30)]
    now = timezone.now()
    OutboxMessage.objects.update(queued_at=now)
    soon = now + dt.timedelta(seconds=5)
    assert sending.to_publish(OutboxMessage, soon, tick=TICK, queued_tasks=lambda: 0) == []  # maybe in flight
    later = now + sending.IN_FLIGHT + dt.timedelta(seconds=1)
    # Two tasks in the queue can still carry 50 rows: a long queue, not a lost one.
    assert sending.to_publish(OutboxMessage, later, tick=TICK, queued_tasks=lambda: 2) == []
    assert sending.to_publish(OutboxMessage, later, tick=TICK, queued_tasks=lambda: None) == []  # cannot tell
    # A broker that restarted empty: every one of them.
    assert sending.to_publish(OutboxMessage, later, tick=TICK, queued_tasks=lambda: 0) == [r.pk for r in rows]


def test_every_row_of_a_batch_names_the_refused_connection_and_the_tick_sends_them_once_the_server_answers(
    smtp_server,
):
    rows = [email(n) for n in range(4)]
    smtp_server.stop()
    outbox.send_emails([r.pk for r in rows])
    errors = list(OutboxMessage.objects.values_list("last_error", "server_unreachable", "status"))
    assert all(e.startswith("ConnectionRefusedError") and u and s == Status.PENDING for e, u, s in errors), errors
    now = timezone.now()
    assert sending.retry_reachable(OutboxMessage, now) == 0  # still refused: the backoff stands
    smtp_server.start()
    assert sending.retry_reachable(OutboxMessage, now) == 4
    ids = sending.to_publish(OutboxMessage, now, tick=TICK)
    assert ids == [r.pk for r in rows]
    outbox.send_emails(ids)
    assert set(OutboxMessage.objects.values_list("status", "last_error", "server_unreachable")) == {
        (Status.SENT, "", False)
    }
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [f"p{n}@example.com" for n in range(4)]


def test_a_batch_after_a_failed_connect_opens_a_fresh_connection(smtp_server):
    first, second = email(1), email(2)
    smtp_server.stop()
    outbox.send_emails([first.pk])
    smtp_server.start()
    OutboxMessage.objects.filter(pk=first.pk).update(next_attempt_at=None)
    outbox.send_emails([first.pk, second.pk])
    assert set(OutboxMessage.objects.values_list("status", "last_error")) == {(Status.SENT, "")}


def test_the_heartbeat_says_who_is_alive_and_what_batch_it_is_sending():
    workers.beat()
    me = SendingWorker.objects.get(name=workers.holder())
    assert me.busy_since is None and me.pid > 0
    with workers.working() as name:
        assert name == me.name
        workers.beat()
        me.refresh_from_db()
        assert me.busy_since is not None and me.busy_since <= timezone.now()
    workers.beat()
    me.refresh_from_db()
    assert me.busy_since is None
    sending.claim(OutboxMessage, email().pk, timezone.now())
    assert OutboxMessage.objects.get().claimed_by == me.name
