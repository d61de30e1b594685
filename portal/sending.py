"""The one sending engine for every outgoing-message model (``portal.models.OutgoingMessage``).

Outbox rows (``portal.outbox``) and campaign deliveries (``policies.dispatch``) both go through these
functions:

1. ``send_batch`` takes its rows (``claimed_by``: this worker process, ``portal.workers``), then ``claim``s
   each: ``UPDATE ... SET status='sending' WHERE status='pending' AND due``; a redelivered or duplicated
   task finds the row sending/sent/failed and does nothing.
2. ``deliver_email``: SMTP with a commit point (``portal.mailer``): ``hand_over`` notes ``handed_over_at`` just
   before the final dot; ``mark_sent`` on the server's 250 only. A runner whose claim was taken over aborts
   its DATA at the commit point and sends nothing.
3. ``record_failure``: back to pending with an exponential backoff, or failed with the error when the
   server refused for good (5xx), the retry window (a day) has passed, or a model's try limit is reached.
4. The ticks, from evidence (docs/architecture.md, "When something fails"): ``recover_abandoned`` takes
   back rows whose worker died or moved on (without a hand-over the server never had the whole message,
   so it is sent again without risk of a duplicate; with one, it is "delivery uncertain" until IT staff
   send it again); ``to_publish`` finds rows whose task is lost (never published, held by a dead worker,
   or gone with a broker that restarted empty); ``retry_reachable`` ends the backoff of rows that failed
   only because the server could not be reached, once it answers again.
"""

from __future__ import annotations

import datetime as dt
import smtplib
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, models
from django.db.models import F, Q
from django.utils import timezone

from portal import workers
from portal.mailer import CommitRefused, Mailer, server_answers
from portal.models import OutgoingMessage

Status = OutgoingMessage.Status
# Fallbacks when there is no evidence either way (a row held by a process that never beats, a lost task
# while the broker's queue is long): a claim this old is a dead worker's, far longer than any send
# (EMAIL_TIMEOUT and the channel timeout); a pending row published this long ago and never run is lost.
STUCK_SENDING_AFTER = dt.timedelta(minutes=10)
LOST_TASK_AFTER = dt.timedelta(minutes=5)
MAX_BACKOFF = 30 * 60  # seconds; well under the Redis visibility timeout (1 h), so a countdown is safe
BATCH_SIZE = 25  # rows per send task, at most (both models)
# A row published this recently may still be on its way to a worker that fetched its task (prefetched, not
# yet started, so not in the queue any more): it is not counted against the broker's queue yet.
IN_FLIGHT = dt.timedelta(seconds=10)

UNCERTAIN_NOTE = (
    "The worker stopped after handing the whole message to the mail server and before its answer: "
    "it may or may not have arrived. Ask the recipient, or send it again."
)
RESENT_NOTE = "The worker stopped before handing the message over (the server discarded it); sent again."


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: int  # seconds before the first retry; doubles with every further try
    window: dt.timedelta  # retried until this long after ``retry_from``, then failed
    max_tries: int | None = None

    @classmethod
    def outbox(cls) -> RetryPolicy:
        return cls(settings.OUTBOX_RETRY_SECONDS, dt.timedelta(seconds=settings.OUTBOX_RETRY_WINDOW))


def _due(now: dt.datetime) -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


def reserve(model: type[OutgoingMessage], ids: list[int], now: dt.datetime, holder: str) -> int:
    """Note that ``holder`` is running the batch ``ids``: if it dies, the tick re-queues them at once."""
    return model.objects.filter(_due(now), pk__in=ids, status=Status.PENDING).update(claimed_by=holder, claimed_at=now)


def claim(model: type[OutgoingMessage], pk: int, now: dt.datetime, holder: str = "") -> bool:
    """Take a due pending row for sending; False when someone else has it, it is done, or not due yet."""
    return bool(
        model.objects.filter(_due(now), pk=pk, status=Status.PENDING).update(
            status=Status.SENDING, claimed_at=now, claimed_by=holder or workers.holder(), attempts=F("attempts") + 1
        )
    )


def hand_over(model: type[OutgoingMessage], pk: int, claimed_at: dt.datetime) -> bool:
    """The commit point: note that the whole message is with the server (``handed_over_at``, still "sending").

    True when the row is still this runner's claim; the server's answer then decides sent or not.
    """
    return bool(
        model.objects.filter(pk=pk, status=Status.SENDING, claimed_at=claimed_at, handed_over_at__isnull=True).update(
            handed_over_at=timezone.now()
        )
    )


def mark_sent(model: type[OutgoingMessage], pk: int, claimed_at: dt.datetime, **changes) -> bool:
    """The server accepted: the row is sent and the previous error cleared (``changes``: e.g. blank bodies)."""
    now = timezone.now()
    return bool(
        model.objects.filter(pk=pk, status=Status.SENDING, claimed_at=claimed_at).update(
            status=Status.SENT,
            sent_at=now,
            handed_over_at=models.functions.Coalesce(F("handed_over_at"), models.Value(now)),
            next_attempt_at=None,
            last_error="",
            server_unreachable=False,
            **changes,
        )
    )


def is_permanent(exc: Exception) -> bool:
    """A refusal for good (5xx): trying again would only be refused again."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


def error_text(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:500]


def record_failure(
    model: type[OutgoingMessage],
    pk: int,
    claimed_at: dt.datetime,
    error: str,
    policy: RetryPolicy,
    *,
    permanent: bool = False,
    unreachable: bool = False,
) -> int | None:
    """Back to pending with a backoff, or failed. Returns the retry countdown in seconds, or None.

    ``unreachable``: the server could not be reached (nothing was offered); the tick ends the backoff as
    soon as it answers again (``retry_reachable``).
    """
    row = model.objects.filter(pk=pk).values("attempts", "retry_from").first()
    if row is None:
        return None
    now = timezone.now()
    mine = model.objects.filter(pk=pk, status=Status.SENDING, claimed_at=claimed_at)
    out_of_tries = policy.max_tries is not None and row["attempts"] >= policy.max_tries
    if permanent or out_of_tries or now >= row["retry_from"] + policy.window:
        mine.update(
            status=Status.FAILED, last_error=error[:500], handed_over_at=None, next_attempt_at=None, claimed_by=""
        )
        return None
    countdown = min(policy.first_delay * 2 ** max(row["attempts"] - 1, 0), MAX_BACKOFF)
    mine.update(
        status=Status.PENDING,
        last_error=error[:500],
        handed_over_at=None,
        next_attempt_at=now + dt.timedelta(seconds=countdown),
        queued_at=now,
        claimed_by="",
        server_unreachable=unreachable,
    )
    return countdown


def deliver_email(
    model: type[OutgoingMessage],
    pk: int,
    message,
    mailer: Mailer,
    policy: RetryPolicy,
    claimed_at: dt.datetime,
    **sent_changes,
) -> int | None:
    """Send a claimed row's email: handed over at SMTP's commit point, sent only when the server accepts.

    Returns a retry countdown in seconds, or None (sent, failed for good, or taken over by another runner).
    """
    try:
        mailer.send(message, lambda: hand_over(model, pk, claimed_at))
    except CommitRefused:
        return None  # another runner reset or took the row; it sends it
    except DatabaseError:
        raise  # the database, not the mail server: the server never got the terminator (see portal.mailer)
    except Exception as exc:  # SMTP and socket errors, and whatever a non-SMTP backend raises
        unreachable = mailer.unreachable is not None
        return record_failure(
            model, pk, claimed_at, error_text(exc), policy, permanent=is_permanent(exc), unreachable=unreachable
        )
    try:
        mark_sent(model, pk, claimed_at, **sent_changes)
    except DatabaseError:
        # The server accepted, so the row must say sent: once more on a fresh connection (the database
        # cut this one). If that fails too, the tick finds the row handed over and shows it uncertain.
        connection.close()
        mark_sent(model, pk, claimed_at, **sent_changes)
    return None


def send_batch(
    model: type[OutgoingMessage], ids: list[int], message_for: Callable[[int], tuple], policy: RetryPolicy
) -> dict[int, int]:
    """Claim and send each row over one SMTP connection. Returns {pk: countdown} for rows to retry.

    ``message_for(pk)`` gives the claimed row's (email, changes to store once it is sent), or (None, error)
    when there is nothing that could ever be sent. When the server cannot be reached, the rest of the batch
    is not tried (each would wait ``EMAIL_TIMEOUT`` again): every row gets that error and its backoff.
    """
    retries: dict[int, int] = {}
    mailer = Mailer()
    with workers.working() as me:
        reserve(model, ids, timezone.now(), me)
        try:
            retries = _send_each(model, sorted(ids), message_for, policy, mailer, me)
        finally:
            mailer.close()
    return retries


def _send_each(
    model: type[OutgoingMessage],
    ids: list[int],
    message_for: Callable[[int], tuple],
    policy: RetryPolicy,
    mailer: Mailer,
    me: str,
) -> dict[int, int]:
    retries: dict[int, int] = {}
    for pk in ids:
        claimed_at = timezone.now()
        if not claim(model, pk, claimed_at, me):
            continue
        if mailer.unreachable is not None:
            error = error_text(mailer.unreachable)
            countdown = record_failure(model, pk, claimed_at, error, policy, unreachable=True)
        else:
            message, extra = message_for(pk)
            if message is None:
                countdown = record_failure(model, pk, claimed_at, extra, policy, permanent=True)
            else:
                countdown = deliver_email(model, pk, message, mailer, policy, claimed_at, **extra)
        if countdown is not None:
            retries[pk] = countdown
    return retries


def retry_by_hand(model: type[OutgoingMessage], rows: models.QuerySet) -> int:
    """Failed and uncertain rows get a fresh retry window ("Retry" / "Send again" on the pages of IT staff).

    An uncertain row may have arrived already: sending it again is IT staff's decision, never the tick's.
    """
    now = timezone.now()
    return rows.filter(status__in=[Status.FAILED, Status.UNCERTAIN]).update(
        status=Status.PENDING,
        attempts=0,
        next_attempt_at=None,
        retry_from=now,
        queued_at=None,
        last_error="",
        claimed_by="",
        handed_over_at=None,
        server_unreachable=False,
    )


def recover_abandoned(model: type[OutgoingMessage], now: dt.datetime) -> dict[str, int]:
    """Rows left "sending" by a worker that died or moved on (``portal.workers.abandoned``).

    Not handed over: the server discarded the unfinished message, so the row goes back to pending and is
    sent again without risk of a duplicate. Handed over: the server had the whole message and its answer
    was lost with the worker; it may have arrived, so the row is "delivery uncertain", never sent again
    on its own. Returns {"resent": n, "uncertain": n}.
    """
    fallback = Q(claimed_by="", claimed_at__lt=now - STUCK_SENDING_AFTER)
    rows = model.objects.filter(fallback | workers.abandoned(now, fallback=STUCK_SENDING_AFTER), status=Status.SENDING)
    held = list(rows.values_list("pk", "claimed_at", "handed_over_at"))
    counts = {"resent": 0, "uncertain": 0}
    for pk, claimed_at, handed_over_at in held:
        # The same claim still (a runner that is alive after all cannot change it under us).
        mine = model.objects.filter(pk=pk, status=Status.SENDING, claimed_at=claimed_at)
        if handed_over_at is not None:
            counts["uncertain"] += mine.update(status=Status.UNCERTAIN, next_attempt_at=None, last_error=UNCERTAIN_NOTE)
        else:
            counts["resent"] += mine.filter(handed_over_at__isnull=True).update(
                status=Status.PENDING, next_attempt_at=None, queued_at=None, claimed_by="", last_error=RESENT_NOTE
            )
    return counts


def retry_reachable(model: type[OutgoingMessage], now: dt.datetime) -> int:
    """Rows waiting out a backoff only because the server could not be reached: due now if it answers.

    One connection (no message) per tick, and only while such rows wait. Returns how many became due.
    """
    waiting = model.objects.filter(status=Status.PENDING, server_unreachable=True, next_attempt_at__gt=now)
    if not waiting.exists() or not server_answers():
        return 0
    return waiting.update(next_attempt_at=None, queued_at=None)


def to_publish(
    model: type[OutgoingMessage],
    now: dt.datetime,
    *,
    tick: dt.timedelta,
    grace: dt.timedelta = dt.timedelta(0),
    queued_tasks: Callable[[], int | None] = lambda: None,
) -> list[int]:
    """Due pending rows whose send task is lost, oldest first (at most 5,000).

    Lost: never published (``queued_at`` empty: a broker that was down, a recovered row); due again after
    a backoff and not published since; held by a batch whose worker died or moved on; published more than
    a moment ago (``IN_FLIGHT``, at most a tick) while the broker holds too few tasks to still carry them
    (``queued_tasks()``: a broker that restarted empty); or published ``LOST_TASK_AFTER`` ago (no evidence
    either way).

    ``grace``: how long a due retry may wait for the task its runner published with a countdown
    (deliveries); the outbox publishes its retries from the tick, so nothing waits there.
    """
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now - grace)
    gone = workers.abandoned(now, fallback=LOST_TASK_AFTER)
    pending = model.objects.filter(due, status=Status.PENDING)
    free = pending.filter(Q(claimed_by="") | gone)
    certain = (
        Q(queued_at__isnull=True)
        | Q(queued_at__lt=F("next_attempt_at"))
        | Q(queued_at__lt=now - LOST_TASK_AFTER)
        | gone
    )
    ids = list(free.filter(certain).order_by("pk").values_list("pk", flat=True)[:5000])
    waiting = free.exclude(pk__in=ids).filter(queued_at__lt=now - min(tick, IN_FLIGHT))
    count = waiting.count()
    if count and len(ids) < 5000:
        # A broker that restarted empty lost these tasks; one whose queue is just long still has them.
        queued = queued_tasks()
        if queued is not None and count > queued * BATCH_SIZE:
            ids += list(waiting.order_by("pk").values_list("pk", flat=True)[: 5000 - len(ids)])
    return ids


def mark_published(model: type[OutgoingMessage], ids: list[int], now: dt.datetime) -> None:
    """The tick (re)published these: they are nobody's until a batch takes them."""
    model.objects.filter(pk__in=ids, status=Status.PENDING).update(queued_at=now, claimed_by="")
