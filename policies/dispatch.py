"""Campaign and digest dispatch: the minute tick, fan-out into Delivery rows, and idempotent sends.

How a campaign email goes out (docs/architecture.md, "How a message travels"):

1. ``tick`` finds campaigns with ``next_run_at <= now`` and claims each occurrence with
   ``UPDATE ... WHERE next_run_at = <old>``; only the runner whose update changed a row creates the
   ``CampaignRun``. Missed occurrences (beat was down) are not sent as a backlog: one run, then the next
   future occurrence.
2. ``fan_out`` creates one ``Delivery`` per (campaign, recipient, occurrence) — a unique constraint, so a
   second fan-out of the same run adds nothing — and queues send tasks in batches.
3. ``send_deliveries`` sends them through the outbox's one engine (``portal.sending``): each row claimed by
   a conditional update, handed over at SMTP's commit point, marked sent only on the server's acceptance,
   retried with a doubling backoff (``PolicySettings``: first wait and tries) and then failed with the error.
4. ``recover`` (part of every tick) re-queues what a dead worker or a lost task left behind, from evidence:
   runs never fanned out, rows whose worker stopped beating or moved on (``portal.sending.recover_abandoned``:
   sent again, or "delivery uncertain" when the server had the whole message), rows whose task the broker
   lost, and rows that waited only for the mail server to answer again.

The weekly review digest is a plain outbox message (``policies.emails.send_review_digest``), one per owner
and week.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from policies import emails
from policies.models import (
    Acknowledgement,
    AttestationResponse,
    Campaign,
    CampaignRun,
    Delivery,
    PolicySettings,
    due_for_review,
    organisation_zone,
)
from policies.monthly import claim_monthly_summaries
from portal import sending
from portal.outbox import it_alert_recipients, publish, queued_tasks

log = logging.getLogger(__name__)

Status = Delivery.Status
BATCH_SIZE = sending.BATCH_SIZE
LOST_TASK_AFTER = sending.LOST_TASK_AFTER
STUCK_SENDING_AFTER = sending.STUCK_SENDING_AFTER

Enqueue = Callable[[list[int]], None]


# --- Queueing (the only place that knows about Celery; portal.outbox.publish never blocks) --------------


def enqueue_deliveries(ids: list[int], countdown: int | None = None) -> None:
    from policies import tasks

    publish(tasks.send_deliveries, ids, countdown=countdown)


def enqueue_retries(retries: dict[int, int], enqueue: Callable[..., None] | None = None) -> None:
    """Publish the retries a batch asked for ({delivery id: countdown}): one task per 25 rows with one countdown.

    A batch that could not reach the server asks the same wait for each of its rows: one task per row would
    be thousands of tasks held by the worker, each a connection of its own when they come due together.
    """
    enqueue = enqueue or enqueue_deliveries
    by_countdown: dict[int, list[int]] = {}
    for pk, countdown in sorted(retries.items()):
        by_countdown.setdefault(countdown, []).append(pk)
    for countdown, ids in by_countdown.items():
        for batch in _batches(ids):
            enqueue(batch, countdown=countdown)


def enqueue_fan_out(run_id: int) -> None:
    from policies import tasks

    publish(tasks.fan_out, run_id)


# --- The tick ----------------------------------------------------------------------------------


def tick(now: dt.datetime | None = None) -> dict[str, int]:
    """Everything the minute beat entry does; returns counts for the log."""
    now = now or timezone.now()
    runs = claim_due_campaigns(now)
    for run in runs:
        enqueue_fan_out(run.pk)
    digests = claim_review_digests(now)
    monthly = claim_monthly_summaries(now)
    recovered = recover(now)
    return {"runs": len(runs), "digests": len(digests), "monthly_summaries": len(monthly), **recovered}


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
    transaction.on_commit(lambda: enqueue_fan_out(run.pk))
    return run


def retry_failed(campaign: Campaign) -> int:
    """Give failed deliveries a fresh set of attempts."""
    return _send_again(campaign.deliveries.filter(status=Status.FAILED))


def send_uncertain_again(campaign: Campaign) -> int:
    """Send again the deliveries whose hand-over was interrupted (IT staff decided they did not arrive)."""
    return _send_again(campaign.deliveries.filter(status=Status.UNCERTAIN))


def _send_again(rows) -> int:
    ids = list(rows.values_list("pk", flat=True))
    count = sending.retry_by_hand(Delivery, Delivery.objects.filter(pk__in=ids))
    Delivery.objects.filter(pk__in=ids, status=Status.PENDING).update(queued_at=timezone.now())
    for batch in _batches(ids):
        transaction.on_commit(lambda batch=batch: enqueue_deliveries(batch))
    return count


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


def retry_policy(conf: PolicySettings) -> sending.RetryPolicy:
    return sending.RetryPolicy(
        conf.retry_backoff_seconds, sending.RetryPolicy.outbox().window, max_tries=conf.send_max_tries
    )


def send_deliveries(ids: list[int]) -> dict[int, int]:
    """Send each claimable delivery once. Returns {delivery id: countdown} for those to retry later."""
    deliveries = Delivery.objects.select_related("recipient", "campaign", "campaign__policy")
    it_staff: list[str] | None = None

    def message_for(pk: int):
        nonlocal it_staff
        delivery = deliveries.get(pk=pk)
        cc = None
        if delivery.escalated:
            if it_staff is None:
                it_staff = it_alert_recipients()
            cc = [e for e in it_staff if e != delivery.recipient.email]
        return emails.campaign_email(delivery, cc=cc), {}

    return sending.send_batch(Delivery, ids, message_for, retry_policy(PolicySettings.load()))


# --- Recovery ------------------------------------------------------------------------------------


def recover(now: dt.datetime, enqueue: Enqueue = enqueue_deliveries) -> dict[str, int]:
    """Re-queue work a dead worker or a lost task left behind. Duplicates are harmless: sends claim rows."""
    tick = dt.timedelta(seconds=settings.CAMPAIGN_TICK_SECONDS)
    unfanned = CampaignRun.objects.filter(fanned_out_at__isnull=True, created_at__lt=now - tick)
    runs = list(unfanned.filter(created_at__lt=now - LOST_TASK_AFTER).values_list("pk", flat=True))
    if not runs and unfanned.exists() and queued_tasks() == 0:
        runs = list(unfanned.values_list("pk", flat=True))  # the broker holds no task: their fan-out was lost
    for run_id in runs:
        enqueue_fan_out(run_id)
    recovered = sending.recover_abandoned(Delivery, now)
    reachable = sending.retry_reachable(Delivery, now)
    # A due retry waits one tick for the task its runner published with a countdown.
    ids = sending.to_publish(Delivery, now, tick=tick, grace=tick, queued_tasks=queued_tasks)
    sending.mark_published(Delivery, ids, now)
    for batch in _batches(ids):
        enqueue(batch)
    return {**recovered, "reachable": reachable, "requeued": len(ids), "refanned": len(runs)}


# --- Review digest -----------------------------------------------------------------------------


def next_digest_time(conf: PolicySettings, after: dt.datetime) -> dt.datetime:
    zone = organisation_zone()
    local = after.astimezone(zone)
    days_ahead = (conf.digest_weekday - local.weekday()) % 7
    candidate = dt.datetime.combine(local.date() + dt.timedelta(days=days_ahead), dt.time(conf.digest_hour))
    aware = candidate.replace(tzinfo=zone)
    if aware <= after:
        aware = (candidate + dt.timedelta(days=7)).replace(tzinfo=zone)
    return aware.astimezone(dt.UTC)


def claim_review_digests(now: dt.datetime) -> list:
    """Once a week: one digest email per owner with something due (its key: owner and week)."""
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
    today = timezone.localdate(now, timezone=organisation_zone())
    week_of = today - dt.timedelta(days=today.weekday())
    policies, procedures = due_for_review(today)
    owners = {p.owner for p in policies if p.owner_id} | {p.owner for p in procedures if p.owner_id}
    sent = []
    for owner in sorted(owners, key=lambda o: o.pk):
        mine = [p for p in policies if p.owner_id == owner.pk]
        theirs = [p for p in procedures if p.owner_id == owner.pk]
        row = emails.send_review_digest(owner, policies=mine, procedures=theirs, today=today, week_of=week_of)
        if row is not None:
            sent.append(row)
    return sent
