"""Which worker process holds an outgoing message, and whether it is still working on it.

A process that sends rows names itself ``host:pid:token`` (``holder()``; the token tells a restarted
process that got the same pid from the dead one) and writes that name into every row it takes
(``OutgoingMessage.claimed_by``). A Celery worker process also beats (``start_heartbeat``, from
``portal.celery``): a daemon thread writes its ``SendingWorker`` row every ``WORKER_HEARTBEAT_SECONDS``
with ``busy_since``, when the batch it is sending started (None when idle).

That is the evidence recovery works from (``abandoned``): a row's holder stopped beating (killed, its
host gone), or beat after taking the row while idle or busy with a later batch (its task died on a
database error and it moved on). A process that never beats (a shell, a test, an eager task) is judged
by the old fixed timers instead.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

log = logging.getLogger(__name__)

# Worker rows not seen for this long are deleted by the tick (they can hold nothing any more).
FORGET_AFTER = dt.timedelta(days=1)


class _Process:
    """This process's name and what it is doing (read by the heartbeat thread, written by the sender)."""

    def __init__(self) -> None:
        self.pid = 0
        self.name = ""
        self.started_at: dt.datetime | None = None
        self.batches: list[dt.datetime] = []  # start times of the batches being sent (a threads pool has several)
        self.beating = False

    @property
    def busy_since(self) -> dt.datetime | None:
        return min(self.batches, default=None)


_me = _Process()


def holder() -> str:
    """This process's name, made afresh after a fork (a prefork child is not its parent)."""
    if _me.pid != os.getpid():
        _me.pid = os.getpid()
        _me.name = f"{socket.gethostname()[:150]}:{_me.pid}:{secrets.token_hex(4)}"
        _me.started_at = timezone.now()
        _me.batches = []
        _me.beating = False
    return _me.name


@contextmanager
def working() -> Iterator[str]:
    """Around a batch: the heartbeat says this process is busy with it. Yields the holder name.

    ``busy_since`` is set before any row is taken, so every row of the batch has ``claimed_at`` at or after
    it; a beat reads the clock before it reads ``busy_since``, so a beat that missed the batch's start is
    older than the batch's rows and proves nothing about them.
    """
    name = holder()
    started = timezone.now()
    _me.batches.append(started)
    try:
        yield name
    finally:
        _me.batches.remove(started)


def timeout() -> dt.timedelta:
    """A worker not seen for this long is dead."""
    return dt.timedelta(seconds=settings.WORKER_HEARTBEAT_SECONDS * settings.WORKER_MISSED_BEATS)


def beat() -> None:
    """Write this process's row: alive now, and busy with the batch started at ``busy_since`` (or idle)."""
    from portal.models import SendingWorker

    name = holder()
    now = timezone.now()
    busy_since = _me.busy_since  # read after the clock: see ``working``
    SendingWorker.objects.update_or_create(
        name=name,
        defaults={
            "host": name.rsplit(":", 2)[0],
            "pid": _me.pid,
            "started_at": _me.started_at,
            "last_seen": now,
            "busy_since": busy_since,
        },
    )


def _beat_forever(interval: float) -> None:
    event = threading.Event()
    while True:
        try:
            beat()
        except Exception as exc:
            # The database restarted or cut this connection: drop it so the next beat connects afresh, and
            # try again at once rather than after a whole interval (a few missed beats mean "dead").
            log.warning("worker heartbeat failed (%s); retrying", exc.__class__.__name__)
            connection.close()
            event.wait(min(interval, 1.0))
            continue
        event.wait(interval)


def start_heartbeat() -> None:
    """Beat from a daemon thread of this process (once per process; a Celery worker signal calls this).

    The thread has a database connection of its own: never the one a forked process inherited from its
    parent (two processes on one socket garble both), and never the tasks' (a beat inside their transaction).
    A row taken before the first beat has no heartbeat to judge it by for those few milliseconds: it is
    only judged by the fixed limit until then.
    """
    holder()
    if _me.beating:
        return
    _me.beating = True
    interval = settings.WORKER_HEARTBEAT_SECONDS
    threading.Thread(target=_beat_forever, args=(interval,), name="sending-heartbeat", daemon=True).start()


def abandoned(now: dt.datetime, *, fallback: dt.timedelta) -> Q:
    """Rows (``OutgoingMessage``) whose holder (``claimed_by``, not empty) is no longer working on them.

    Dead: the holder stopped beating. Moved on: it beat after taking the row (``last_seen >= claimed_at``)
    while idle or busy with a batch that started after it. A holder with no heartbeat at all (a process
    that never beats) counts as gone once ``claimed_at`` is ``fallback`` old.
    """
    from portal.models import SendingWorker

    beats = SendingWorker.objects.filter(name=OuterRef("claimed_by"))
    dead = Exists(beats.filter(last_seen__lt=now - timeout()))
    moved_on = Exists(
        beats.filter(last_seen__gte=OuterRef("claimed_at")).filter(
            Q(busy_since__isnull=True) | Q(busy_since__gt=OuterRef("claimed_at"))
        )
    )
    unknown = Q(~Exists(beats), claimed_at__lt=now - fallback)
    return ~Q(claimed_by="") & (Q(dead) | Q(moved_on) | unknown)


def forget_old(now: dt.datetime) -> int:
    from portal.models import SendingWorker

    return SendingWorker.objects.filter(last_seen__lt=now - FORGET_AFTER).delete()[0]
