"""Campaign and digest dispatch: the minute tick, fan-out into Delivery rows, and idempotent sends.

How an email goes out (DESIGN.md, Data flow):

1. ``tick`` finds campaigns with ``next_run_at <= now`` and claims each occurrence with
   ``UPDATE ... WHERE next_run_at = <old>``; only the runner whose update changed a row creates the
   ``CampaignRun``. Missed occurrences (beat was down) are not sent as a backlog: one run, then the next
   future occurrence.
2. ``fan_out`` creates one ``Delivery`` per (campaign, recipient, occurrence) — a unique constraint, so a
   second fan-out of the same run adds nothing — and queues send tasks in batches.
3. ``send_deliveries`` claims each row with ``UPDATE ... SET status='sending' WHERE status='pending'``
   before talking SMTP. A redelivered or duplicated task finds the row sending/sent/failed and does nothing.
   SMTP errors put the row back to pending with ``next_attempt_at`` (exponential backoff); after
   ``send_max_tries`` attempts it is failed with the error. Permanent refusals (5xx) fail at once.
4. ``recover`` (part of every tick) re-queues what a dead worker left behind: runs never fanned out,
   pending rows whose task was lost, and rows stuck in "sending".

The crash window between "SMTP accepted" and "row marked sent" cannot be closed (SMTP has no transaction
with our database), only narrowed: ``policies.smtp`` notes the hand-over (``sent_at``, row still "sending")
at SMTP's own commit point, after the message body and just before the final ``<CRLF>.<CRLF>``; the server's
250 then marks it sent, a refusal never does. A worker killed before the hand-over never delivered the mail
(the server drops an unterminated DATA), so a row still "sending" without ``sent_at`` after
``STUCK_SENDING_AFTER`` (far longer than any SMTP timeout) is sent again without risk of a duplicate; one
with ``sent_at`` is counted sent with a note and not sent again. Only a kill during the single socket write
after the hand-over loses a mail; only a reply lost after the server accepted duplicates one (the stable
Message-ID lets mail clients recognise it).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from collections.abc import Callable, Iterable

from django.db import models, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from policies import emails
from policies.models import (
    Acknowledgement,
    AttestationResponse,
    Campaign,
    CampaignRun,
    Delivery,
    OutgoingMail,
    Policy,
    PolicySettings,
    Procedure,
    ReviewDigest,
)
from policies.smtp import CommitRefused, Mailer

log = logging.getLogger(__name__)

Status = OutgoingMail.Status
BATCH_SIZE = 25
LOST_TASK_AFTER = dt.timedelta(minutes=5)
STUCK_SENDING_AFTER = dt.timedelta(minutes=10)
MAX_BACKOFF = 30 * 60  # seconds; well under the Redis visibility timeout (1 h)
REVIEW_WINDOW_DAYS = 30

Enqueue = Callable[[list[int]], None]


# --- Queueing (the only place that knows about Celery) ---------------------------------------


def enqueue_deliveries(ids: list[int], countdown: int | None = None) -> None:
    from policies import tasks

    tasks.send_deliveries.apply_async((ids,), countdown=countdown)


def enqueue_fan_out(run_id: int) -> None:
    from policies import tasks

    tasks.fan_out.delay(run_id)


def enqueue_digest(digest_id: int, countdown: int | None = None) -> None:
    from policies import tasks

    tasks.send_review_digest.apply_async((digest_id,), countdown=countdown)


# --- The tick ----------------------------------------------------------------------------------


def tick(now: dt.datetime | None = None) -> dict[str, int]:
    """Everything the minute beat entry does; returns counts for the log."""
    now = now or timezone.now()
    runs = claim_due_campaigns(now)
    for run in runs:
        _try(enqueue_fan_out, run.pk)
    digests = claim_review_digests(now)
    for digest_id in digests:
        _try(enqueue_digest, digest_id)
    recovered = recover(now)
    return {"runs": len(runs), "digests": len(digests), **recovered}


def claim_due_campaigns(now: dt.datetime) -> list[CampaignRun]:
    runs = []
    for campaign in Campaign.objects.filter(active=True, next_run_at__lte=now):
        occurrence = campaign.next_run_at
        following = campaign.schedule.next_after(max(occurrence, now))
        with transaction.atomic():
            claimed = Campaign.objects.filter(pk=campaign.pk, next_run_at=occurrence).update(
                next_run_at=following, last_run_at=occurrence
            )
            if not claimed:
                continue  # another tick took it
            run, _ = CampaignRun.objects.get_or_create(campaign=campaign, occurrence=occurrence)
        runs.append(run)
    return runs


def send_now(campaign: Campaign, now: dt.datetime | None = None) -> CampaignRun:
    """An extra, manual occurrence; the schedule is unchanged."""
    run = CampaignRun.objects.create(campaign=campaign, occurrence=now or timezone.now(), manual=True)
    transaction.on_commit(lambda: _try(enqueue_fan_out, run.pk))
    return run


def retry_failed(campaign: Campaign) -> int:
    """Give failed deliveries a fresh set of attempts."""
    ids = list(campaign.deliveries.filter(status=Status.FAILED).values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=ids, status=Status.FAILED).update(
        status=Status.PENDING, attempts=0, next_attempt_at=None, queued_at=timezone.now()
    )
    for batch in _batches(ids):
        transaction.on_commit(lambda batch=batch: _try(enqueue_deliveries, batch))
    return len(ids)


def _try(function: Callable, *args) -> None:
    # The broker may be down; the rows stay pending and the tick's recovery queues them later.
    try:
        function(*args)
    except Exception:
        log.warning("could not queue %s%r; the tick will retry", function.__name__, args, exc_info=True)


def _batches(ids: list[int], size: int = BATCH_SIZE) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- Fan-out -------------------------------------------------------------------------------------


def fan_out(run_id: int, enqueue: Enqueue = enqueue_deliveries, now: dt.datetime | None = None) -> int:
    """Create the run's Delivery rows (idempotent) and queue every pending one. Returns rows created."""
    now = now or timezone.now()
    run = CampaignRun.objects.select_related("campaign", "campaign__policy").filter(pk=run_id).first()
    if run is None:
        return 0
    campaign = run.campaign
    recipient_ids = list(campaign.recipients().values_list("pk", flat=True))
    escalate = escalation_ids(campaign, recipient_ids, run.occurrence)
    rows = [
        Delivery(
            campaign=campaign,
            run=run,
            recipient_id=user_id,
            occurrence=run.occurrence,
            escalated=user_id in escalate,
            queued_at=now,
        )
        for user_id in recipient_ids
    ]
    before = run.deliveries.count()
    Delivery.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    total = run.deliveries.count()
    CampaignRun.objects.filter(pk=run.pk).update(fanned_out_at=now, recipient_count=total)
    pending = list(
        run.deliveries.filter(status=Status.PENDING, next_attempt_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for batch in _batches(pending):
        enqueue(batch)
    return total - before


def escalation_ids(campaign: Campaign, recipient_ids: list[int], occurrence: dt.datetime) -> set[int]:
    """Recipients who already had ``escalate_after`` reminders and still have not acknowledged / answered."""
    if not campaign.escalate_after:
        return set()
    earlier = (
        Delivery.objects.filter(campaign=campaign, status=Status.SENT, occurrence__lt=occurrence)
        .values("recipient_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=campaign.escalate_after)
    )
    reminded = {row["recipient_id"] for row in earlier}
    done = responded_ids(campaign)
    return (reminded - done) & set(recipient_ids)


def responded_ids(campaign: Campaign) -> set[int]:
    if campaign.kind == Campaign.Kind.ATTESTATION:
        return set(AttestationResponse.objects.filter(campaign=campaign).values_list("user_id", flat=True))
    policy = campaign.policy
    if policy is None or not policy.current_version_id:
        return set()
    return set(
        Acknowledgement.objects.filter(policy=policy, version_number__gte=policy.acknowledge_from_version).values_list(
            "user_id", flat=True
        )
    )


# --- Sending -------------------------------------------------------------------------------------


def claim(model: type[OutgoingMail], pk: int, now: dt.datetime) -> bool:
    """Take a pending row for sending; False when someone else has it or it is done."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return bool(
        model.objects.filter(due, pk=pk, status=Status.PENDING).update(
            status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    )


def is_permanent(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


def record_failure(model: type[OutgoingMail], pk: int, exc: Exception, conf: PolicySettings) -> int | None:
    """Back to pending with a backoff, or failed. Returns the retry countdown in seconds, or None."""
    row = model.objects.get(pk=pk)
    error = f"{exc.__class__.__name__}: {exc}"[:500]
    if is_permanent(exc) or row.attempts >= conf.send_max_tries:
        model.objects.filter(pk=pk, status=Status.SENDING).update(status=Status.FAILED, last_error=error, sent_at=None)
        return None
    countdown = min(conf.retry_backoff_seconds * 2 ** (row.attempts - 1), MAX_BACKOFF)
    now = timezone.now()
    model.objects.filter(pk=pk, status=Status.SENDING).update(
        status=Status.PENDING,
        last_error=error,
        sent_at=None,
        next_attempt_at=now + dt.timedelta(seconds=countdown),
        queued_at=now,
    )
    return countdown


def hand_over(model: type[OutgoingMail], pk: int, claimed_at: dt.datetime) -> bool:
    """SMTP's commit point: note that the whole message is with the server (``sent_at``, still "sending").

    True when the row is still this runner's claim; the server's answer then decides sent or not.
    """
    return bool(
        model.objects.filter(pk=pk, status=Status.SENDING, claimed_at=claimed_at, sent_at__isnull=True).update(
            sent_at=timezone.now()
        )
    )


def mark_sent(model: type[OutgoingMail], pk: int) -> bool:
    """The server accepted: True when the row was still ours ("sending") and is now sent."""
    return bool(
        model.objects.filter(pk=pk, status=Status.SENDING, sent_at__isnull=False).update(
            status=Status.SENT, next_attempt_at=None
        )
    )


def deliver(
    model: type[OutgoingMail], pk: int, message, mailer: Mailer, conf: PolicySettings, claimed_at: dt.datetime
) -> int | None:
    """Send a claimed row's message. The row is handed over at SMTP's commit point (policies.smtp) and
    marked sent only when the server accepts, so a refusal never shows as sent.

    Returns a retry countdown in seconds, or None (sent, or failed for good).
    """
    try:
        mailer.send(message, lambda: hand_over(model, pk, claimed_at))
    except CommitRefused:
        return None  # another runner reset or took the row; it sends it
    except Exception as exc:  # SMTP and socket errors, and whatever a non-SMTP backend raises
        return record_failure(model, pk, exc, conf)
    mark_sent(model, pk)
    return None


def send_deliveries(ids: list[int]) -> dict[int, int]:
    """Send each claimable delivery once. Returns {delivery id: countdown} for those to retry later."""
    conf = PolicySettings.load()
    deliveries = Delivery.objects.filter(pk__in=ids).select_related("recipient", "campaign", "campaign__policy")
    html_by_campaign: dict[int, str] = {}
    it_staff: list[str] | None = None
    retries: dict[int, int] = {}
    mailer = Mailer()
    try:
        for delivery in deliveries.order_by("pk"):
            claimed_at = timezone.now()
            if delivery.status != Status.PENDING or not claim(Delivery, delivery.pk, claimed_at):
                continue
            campaign = delivery.campaign
            if campaign.pk not in html_by_campaign:
                html_by_campaign[campaign.pk] = campaign.message_html()
            cc = None
            if delivery.escalated:
                if it_staff is None:
                    it_staff = it_staff_emails()
                cc = [e for e in it_staff if e != delivery.recipient.email]
            message = emails.campaign_email(delivery, message_html=html_by_campaign[campaign.pk], cc=cc)
            countdown = deliver(Delivery, delivery.pk, message, mailer, conf, claimed_at)
            if countdown is not None:
                retries[delivery.pk] = countdown
    finally:
        mailer.close()
    return retries


def send_campaign_test(campaign_id: int, user_id: int) -> None:
    """ "Send a test to me": not a Delivery (no occurrence, nobody else's count changes)."""
    campaign = Campaign.objects.select_related("policy").get(pk=campaign_id)
    user = User.objects.get(pk=user_id)
    mailer = Mailer()
    try:
        mailer.send(emails.campaign_test_email(campaign, user))
    finally:
        mailer.close()


def it_staff_emails() -> list[str]:
    return list(User.objects.filter(role=Role.IT_STAFF, is_active=True).values_list("email", flat=True))


# --- Recovery ------------------------------------------------------------------------------------


def recover(now: dt.datetime, enqueue: Enqueue = enqueue_deliveries) -> dict[str, int]:
    """Re-queue work a dead worker or a lost task left behind. Duplicates are harmless: sends claim rows."""
    lost_before = now - LOST_TASK_AFTER
    runs = list(
        CampaignRun.objects.filter(fanned_out_at__isnull=True, created_at__lt=lost_before).values_list("pk", flat=True)
    )
    for run_id in runs:
        _try(enqueue_fan_out, run_id)
    stuck = 0
    for model in (Delivery, ReviewDigest):
        rows = model.objects.filter(status=Status.SENDING, claimed_at__lt=now - STUCK_SENDING_AFTER)
        # Handed over (the server had the whole message) but the worker stopped before its answer: sending
        # again could deliver it twice, so it counts as sent, with a note.
        rows.filter(sent_at__isnull=False).update(
            status=Status.SENT,
            last_error="The worker stopped before the server's answer to the whole message; not sent again.",
        )
        for pk, claimed_at in rows.filter(sent_at__isnull=True).values_list("pk", "claimed_at"):
            stuck += model.objects.filter(pk=pk, status=Status.SENDING, claimed_at=claimed_at, sent_at=None).update(
                status=Status.PENDING,
                next_attempt_at=None,
                queued_at=None,  # picked up just below, with the lost ones
                last_error="The worker stopped while sending; sent again (it may arrive twice).",
            )
    requeued = {}
    for model in (Delivery, ReviewDigest):
        lost = model.objects.filter(Q(queued_at__lt=lost_before) | Q(queued_at__isnull=True), status=Status.PENDING)
        lost = lost.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=lost_before))
        ids = list(lost.order_by("pk").values_list("pk", flat=True)[:5000])
        model.objects.filter(pk__in=ids, status=Status.PENDING).update(queued_at=now)
        requeued[model] = ids
    for batch in _batches(requeued[Delivery]):
        _try(enqueue, batch)
    for digest_id in requeued[ReviewDigest]:
        _try(enqueue_digest, digest_id)
    return {"stuck": stuck, "requeued": len(requeued[Delivery]) + len(requeued[ReviewDigest]), "refanned": len(runs)}


# --- Review digest -----------------------------------------------------------------------------


def next_digest_time(conf: PolicySettings, after: dt.datetime) -> dt.datetime:
    zone = conf.zone
    local = after.astimezone(zone)
    days_ahead = (conf.digest_weekday - local.weekday()) % 7
    candidate = dt.datetime.combine(local.date() + dt.timedelta(days=days_ahead), dt.time(conf.digest_hour))
    aware = candidate.replace(tzinfo=zone)
    if aware <= after:
        aware = (candidate + dt.timedelta(days=7)).replace(tzinfo=zone)
    return aware.astimezone(dt.UTC)


def due_for_review(today: dt.date, owner=None) -> tuple[models.QuerySet, models.QuerySet]:
    horizon = today + dt.timedelta(days=REVIEW_WINDOW_DAYS)
    policies = Policy.objects.filter(state=Policy.State.PUBLISHED, review_due_on__lte=horizon).select_related("owner")
    procedures = Procedure.objects.filter(active=True, next_due_on__lte=horizon).select_related("owner")
    if owner is not None:
        policies, procedures = policies.filter(owner=owner), procedures.filter(owner=owner)
    return policies.order_by("review_due_on"), procedures.order_by("next_due_on")


def claim_review_digests(now: dt.datetime) -> list[int]:
    """Once a week: one ReviewDigest row per owner with something due (unique per owner and week)."""
    conf = PolicySettings.load()
    if conf.next_digest_at is None:
        PolicySettings.objects.filter(pk=conf.pk, next_digest_at__isnull=True).update(
            next_digest_at=next_digest_time(conf, now)
        )
        return []
    if conf.next_digest_at > now:
        return []
    if not PolicySettings.objects.filter(pk=conf.pk, next_digest_at=conf.next_digest_at).update(
        next_digest_at=next_digest_time(conf, now)
    ):
        return []
    today = timezone.localdate(now, timezone=conf.zone)
    week_of = today - dt.timedelta(days=today.weekday())
    policies, procedures = due_for_review(today)
    owners = {p.owner_id for p in policies if p.owner_id} | {p.owner_id for p in procedures if p.owner_id}
    rows = [ReviewDigest(owner_id=owner_id, week_of=week_of, queued_at=now) for owner_id in sorted(owners)]
    ReviewDigest.objects.bulk_create(rows, ignore_conflicts=True)
    return list(
        ReviewDigest.objects.filter(week_of=week_of, status=Status.PENDING, owner_id__in=owners).values_list(
            "pk", flat=True
        )
    )


def send_review_digest(digest_id: int) -> int | None:
    """Send one digest (claimed first). Returns a retry countdown, or None."""
    conf = PolicySettings.load()
    claimed_at = timezone.now()
    if not claim(ReviewDigest, digest_id, claimed_at):
        return None
    digest = ReviewDigest.objects.select_related("owner").get(pk=digest_id)
    today = timezone.localdate(timezone=conf.zone)
    policies, procedures = due_for_review(today, owner=digest.owner)
    message = emails.review_digest_email(digest, policies=list(policies), procedures=list(procedures), today=today)
    mailer = Mailer()
    try:
        return deliver(ReviewDigest, digest_id, message, mailer, conf, claimed_at)
    finally:
        mailer.close()
