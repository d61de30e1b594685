"""The one sending engine for every outgoing-message model (``portal.models.OutgoingMessage``).

Outbox rows (``portal.outbox``) and campaign deliveries (``policies.dispatch``) both go through these
functions:

1. ``claim``: ``UPDATE ... SET status='sending' WHERE status='pending' AND due``; a redelivered or duplicated
   task finds the row sending/sent/failed and does nothing.
2. ``deliver_email``: SMTP with a commit point (``portal.mailer``): ``hand_over`` notes ``handed_over_at`` just
   before the final dot; ``mark_sent`` on the server's 250 only. A runner whose claim was taken over aborts
   its DATA at the commit point and sends nothing.
3. ``record_failure``: back to pending with an exponential backoff, or failed with the error when the
   server refused for good (5xx), the retry window (a day) has passed, or a model's try limit is reached.
4. ``recover_stuck``: rows left "sending" by a dead worker. Without a hand-over the server never had the
   whole message, so it is sent again without risk of a duplicate; with one, it counts as sent with a note.
"""

from __future__ import annotations

import datetime as dt
import smtplib
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from portal.mailer import CommitRefused, Mailer
from portal.models import OutgoingMessage

Status = OutgoingMessage.Status
# A claim this old is a dead worker's: far longer than any send (EMAIL_TIMEOUT and the channel timeout).
STUCK_SENDING_AFTER = dt.timedelta(minutes=10)
# A pending row whose task was published this long ago and never ran is published again.
LOST_TASK_AFTER = dt.timedelta(minutes=5)
MAX_BACKOFF = 30 * 60  # seconds; well under the Redis visibility timeout (1 h), so a countdown is safe

HANDED_OVER_NOTE = "The worker stopped before the server's answer to the whole message; not sent again."
RESENT_NOTE = "The worker stopped while sending; sent again (it may arrive twice)."


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


def claim(model: type[OutgoingMessage], pk: int, now: dt.datetime) -> bool:
    """Take a due pending row for sending; False when someone else has it, it is done, or not due yet."""
    return bool(
        model.objects.filter(_due(now), pk=pk, status=Status.PENDING).update(
            status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
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
) -> int | None:
    """Back to pending with a backoff, or failed. Returns the retry countdown in seconds, or None."""
    row = model.objects.filter(pk=pk).values("attempts", "retry_from").first()
    if row is None:
        return None
    now = timezone.now()
    mine = model.objects.filter(pk=pk, status=Status.SENDING, claimed_at=claimed_at)
    out_of_tries = policy.max_tries is not None and row["attempts"] >= policy.max_tries
    if permanent or out_of_tries or now >= row["retry_from"] + policy.window:
        mine.update(status=Status.FAILED, last_error=error[:500], handed_over_at=None, next_attempt_at=None)
        return None
    countdown = min(policy.first_delay * 2 ** max(row["attempts"] - 1, 0), MAX_BACKOFF)
    mine.update(
        status=Status.PENDING,
        last_error=error[:500],
        handed_over_at=None,
        next_attempt_at=now + dt.timedelta(seconds=countdown),
        queued_at=now,
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
    except Exception as exc:  # SMTP and socket errors, and whatever a non-SMTP backend raises
        return record_failure(model, pk, claimed_at, error_text(exc), policy, permanent=is_permanent(exc))
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
    try:
        for pk in sorted(ids):
            claimed_at = timezone.now()
            if not claim(model, pk, claimed_at):
                continue
            if mailer.unreachable is not None:
                countdown = record_failure(model, pk, claimed_at, error_text(mailer.unreachable), policy)
            else:
                message, extra = message_for(pk)
                if message is None:
                    countdown = record_failure(model, pk, claimed_at, extra, policy, permanent=True)
                else:
                    countdown = deliver_email(model, pk, message, mailer, policy, claimed_at, **extra)
            if countdown is not None:
                retries[pk] = countdown
    finally:
        mailer.close()
    return retries


def retry_by_hand(model: type[OutgoingMessage], rows: models.QuerySet) -> int:
    """Failed rows get a fresh retry window (a retry on the "Outgoing messages" or campaign page)."""
    now = timezone.now()
    return rows.filter(status=Status.FAILED).update(
        status=Status.PENDING, attempts=0, next_attempt_at=None, retry_from=now, queued_at=None, last_error=""
    )


def recover_stuck(model: type[OutgoingMessage], now: dt.datetime) -> int:
    """Rows a dead worker left "sending". Returns how many go back to pending (to be sent again)."""
    rows = model.objects.filter(status=Status.SENDING, claimed_at__lt=now - STUCK_SENDING_AFTER)
    # Handed over (the server had the whole message) but the worker stopped before its answer: sending
    # again could deliver it twice, so it counts as sent, with a note.
    rows.filter(handed_over_at__isnull=False).update(status=Status.SENT, sent_at=now, last_error=HANDED_OVER_NOTE)
    stuck = 0
    for pk, claimed_at in rows.filter(handed_over_at__isnull=True).values_list("pk", "claimed_at"):
        stuck += model.objects.filter(
            pk=pk, status=Status.SENDING, claimed_at=claimed_at, handed_over_at__isnull=True
        ).update(status=Status.PENDING, next_attempt_at=None, queued_at=None, last_error=RESENT_NOTE)
    return stuck


def lost(model: type[OutgoingMessage], now: dt.datetime, grace: dt.timedelta = dt.timedelta(0)) -> models.QuerySet:
    """Due pending rows whose send task was never published or was lost, or that are due again after a backoff.

    ``grace``: how long a due retry may wait for the task that its runner published with a countdown
    (deliveries); the outbox publishes its retries from the tick, so nothing waits there.
    """
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now - grace)
    unqueued = (
        Q(queued_at__isnull=True) | Q(queued_at__lt=now - LOST_TASK_AFTER) | Q(queued_at__lt=F("next_attempt_at"))
    )
    return model.objects.filter(due, unqueued, status=Status.PENDING)
