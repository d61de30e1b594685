"""Claims, fan-out, idempotent sends, retries and recovery, called directly (no worker), with a real SMTP server."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from policies import dispatch
from policies.models import Campaign, CampaignRun, Delivery, PolicySettings
from policies.schedules import Repeat
from portal import outbox, sending

pytestmark = pytest.mark.django_db
Status = Delivery.Status


def collect():
    batches: list[list[int]] = []
    return batches, batches.append


def test_two_ticks_claim_a_due_occurrence_once(make_campaign):
    campaign = make_campaign(repeat=Repeat.DAYS, interval=1)
    now = timezone.now()
    first = dispatch.claim_due_campaigns(now)
    second = dispatch.claim_due_campaigns(now)
    assert [run.campaign_id for run in first] == [campaign.pk] and second == []
    campaign.refresh_from_db()
    assert campaign.last_run_at == first[0].occurrence
    assert campaign.next_run_at > now


def test_a_stale_claim_loses_to_the_one_that_already_moved_the_schedule(make_campaign):
    campaign = make_campaign(repeat=Repeat.DAYS)
    stale = Campaign.objects.get(pk=campaign.pk)
    dispatch.claim_due_campaigns(timezone.now())
    # Another runner that read the row before the update cannot claim the same occurrence.
    assert Campaign.objects.filter(pk=stale.pk, next_run_at=stale.next_run_at).update(next_run_at=None) == 0
    assert CampaignRun.objects.count() == 1


def test_a_once_campaign_finishes_and_missed_occurrences_are_not_a_backlog(make_campaign):
    once = make_campaign("Once")
    daily = make_campaign("Daily", repeat=Repeat.DAYS, starts_at=timezone.now() - dt.timedelta(days=10))
    runs = dispatch.claim_due_campaigns(timezone.now())
    assert len(runs) == 2
    once.refresh_from_db()
    daily.refresh_from_db()
    assert once.next_run_at is None
    assert timezone.now() < daily.next_run_at < timezone.now() + dt.timedelta(days=1)
    assert dispatch.claim_due_campaigns(timezone.now()) == []


def test_fan_out_creates_one_delivery_per_audience_member_and_is_idempotent(make_campaign, make_user, it_staff):
    users = [make_user(f"person{i}@example.com") for i in range(30)]
    make_user("gone@example.com", is_active=False)
    campaign = make_campaign(audience_roles=["employee"])
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    batches, enqueue = collect()
    assert dispatch.fan_out(run.pk, enqueue=enqueue) == 30
    assert dispatch.fan_out(run.pk, enqueue=enqueue) == 0
    assert set(campaign.deliveries.values_list("recipient_id", flat=True)) == {u.pk for u in users}
    assert len(batches[0]) == dispatch.BATCH_SIZE
    run.refresh_from_db()
    assert run.recipient_count == 30 and run.fanned_out_at is not None


def test_only_people_who_have_not_acknowledged_the_current_version(make_policy, make_campaign, make_user):
    policy = make_policy()
    done, waiting = make_user("done@example.com"), make_user("waiting@example.com")
    policy.acknowledge(done, ip_address=None, user_agent="")
    campaign = make_campaign(policy=policy, only_unacknowledged=True)
    assert list(campaign.recipients()) == [waiting]
    policy.edit(title="v2", summary="s", body="new")
    policy.publish(by=None, require_acknowledgement=True)
    assert set(campaign.recipients()) == {done, waiting}


def test_a_delivery_is_sent_once_even_when_the_task_runs_twice(make_campaign, employee, smtp_server):
    make_campaign()
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    batches, enqueue = collect()
    dispatch.fan_out(run.pk, enqueue=enqueue)
    assert dispatch.send_deliveries(batches[0]) == {}
    assert dispatch.send_deliveries(batches[0]) == {}  # redelivered task
    assert len(smtp_server.messages) == 1
    mail = smtp_server.messages[0]
    assert mail.rcpt_tos == [employee.email]
    assert mail.subject == "Please read the remote-access policy"
    assert "<strong>webmail</strong>" in mail.html()
    # The text part is readable text, not the campaign's Markdown source.
    assert "Use webmail away from the office." in mail.text() and "**" not in mail.text()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Status.SENT, 1)
    assert mail.message["Message-ID"] == f"<policies-delivery-{delivery.pk}@localhost>"


def test_a_row_claimed_by_another_worker_is_left_alone(make_campaign, employee, smtp_server):
    make_campaign()
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    batches, enqueue = collect()
    dispatch.fan_out(run.pk, enqueue=enqueue)
    assert sending.claim(Delivery, batches[0][0], timezone.now())
    dispatch.send_deliveries(batches[0])
    assert smtp_server.messages == []
    assert Delivery.objects.get().status == Status.SENDING


def test_smtp_errors_back_off_then_fail_with_the_error(make_campaign, employee, smtp_server):
    conf = PolicySettings.load()
    conf.send_max_tries, conf.retry_backoff_seconds = 3, 10
    conf.save()
    make_campaign()
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    batches, enqueue = collect()
    dispatch.fan_out(run.pk, enqueue=enqueue)
    smtp_server.refuse()
    delivery_id = batches[0][0]
    countdowns = []
    start = timezone.now()
    for attempt in range(3):
        with time_machine.travel(start + dt.timedelta(minutes=10 * attempt), tick=False):
            countdowns.append(dispatch.send_deliveries([delivery_id]).get(delivery_id))
    assert countdowns == [10, 20, None]
    delivery = Delivery.objects.get()
    assert delivery.status == Status.FAILED and delivery.attempts == 3
    assert "451" in delivery.last_error
    assert smtp_server.messages == []


def test_a_retry_that_arrives_early_does_nothing(make_campaign, employee, smtp_server):
    make_campaign()
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    batches, enqueue = collect()
    dispatch.fan_out(run.pk, enqueue=enqueue)
    smtp_server.refuse()
    dispatch.send_deliveries(batches[0])
    smtp_server.refuse(None)
    assert dispatch.send_deliveries(batches[0]) == {}  # a duplicate before next_attempt_at
    assert smtp_server.messages == []
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2), tick=False):
        dispatch.send_deliveries(batches[0])
    assert len(smtp_server.messages) == 1


def test_a_permanent_refusal_fails_at_once(make_campaign, employee, smtp_server):
    make_campaign()
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    batches, enqueue = collect()
    dispatch.fan_out(run.pk, enqueue=enqueue)
    smtp_server.refuse("554 5.7.1 Rejected")
    assert dispatch.send_deliveries(batches[0]) == {}
    delivery = Delivery.objects.get()
    assert delivery.status == Status.FAILED and "554" in delivery.last_error


def test_retry_failed_gives_them_fresh_attempts(
    make_campaign, employee, smtp_server, django_capture_on_commit_callbacks
):
    campaign = make_campaign()
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    batches, enqueue = collect()
    dispatch.fan_out(run.pk, enqueue=enqueue)
    smtp_server.refuse("554 no")
    dispatch.send_deliveries(batches[0])
    smtp_server.refuse(None)
    assert dispatch.retry_failed(campaign) == 1
    assert dispatch.send_deliveries(batches[0]) == {}
    assert len(smtp_server.messages) == 1


def test_recovery_requeues_lost_tasks_and_resends_stuck_rows(make_campaign, make_user, smtp_server):
    for i in range(3):
        make_user(f"p{i}@example.com")
    make_campaign()
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    dispatch.fan_out(run.pk, enqueue=lambda ids: None)  # the queued tasks are lost
    first, second, third = Delivery.objects.order_by("pk")
    sending.claim(Delivery, first.pk, timezone.now())  # a worker died while sending this one
    dispatch.send_deliveries([second.pk])
    later = timezone.now() + dispatch.STUCK_SENDING_AFTER + dt.timedelta(minutes=1)
    batches, enqueue = collect()
    result = dispatch.recover(later, enqueue=enqueue)
    assert result["resent"] == 1  # claimed by a process that never beat: taken back after the fallback
    assert sorted(id for batch in batches for id in batch) == [first.pk, third.pk]
    for batch in batches:
        dispatch.send_deliveries(batch)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == sorted(
        [first.recipient.email, second.recipient.email, third.recipient.email]
    )
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.SENT}
    assert dispatch.recover(later + dt.timedelta(hours=1), enqueue=enqueue)["requeued"] == 0


def test_escalation_copies_it_staff_after_k_unanswered_reminders(
    make_policy, make_campaign, employee, it_staff, smtp_server
):
    policy = make_policy()
    campaign = make_campaign(policy=policy, escalate_after=2, repeat=Repeat.DAYS, audience_roles=["employee"])
    start = timezone.now()
    for day in range(3):
        with time_machine.travel(start + dt.timedelta(days=day, minutes=1), tick=False):
            for run in dispatch.claim_due_campaigns(timezone.now()):
                batches, enqueue = collect()
                dispatch.fan_out(run.pk, enqueue=enqueue)
                for batch in batches:
                    dispatch.send_deliveries(batch)
    messages = smtp_server.messages
    assert len(messages) == 3
    assert [it_staff.email in m.rcpt_tos for m in messages] == [False, False, True]
    assert messages[2].subject.startswith("[Reminder, IT staff copied]")
    assert campaign.deliveries.filter(escalated=True).count() == 1


def test_review_digests_go_out_weekly_to_owners_with_something_due(make_policy, it_staff, make_user, smtp_server):
    from policies.models import Procedure
    from portal.models import OutboxMessage

    monday = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
    with time_machine.travel(monday - dt.timedelta(days=2), tick=False):
        other_owner = make_user("olga@example.com", role="it_staff")
        policy = make_policy(owner=it_staff)
        policy.review_due_on = timezone.localdate() + dt.timedelta(days=10)
        policy.save()
        yesterday = timezone.localdate() - dt.timedelta(days=1)
        Procedure.objects.create(title="Bandwidth", owner=it_staff, next_due_on=yesterday)
        make_policy("Not due", owner=other_owner)  # due in a year
        assert dispatch.claim_review_digests(timezone.now()) == []  # the first call schedules the next Monday
    assert PolicySettings.load().next_digest_at == monday
    with time_machine.travel(monday + dt.timedelta(seconds=30), tick=False):
        digests = dispatch.claim_review_digests(timezone.now())
        assert dispatch.claim_review_digests(timezone.now()) == []
        assert len(digests) == 1 and digests[0].key == f"policies.review-digest:{it_staff.pk}:2026-06-01|email"
        outbox.send_emails([digests[0].pk])
        outbox.send_emails([digests[0].pk])  # a redelivered task
    assert len(smtp_server.messages) == 1
    mail = smtp_server.messages[0]
    assert mail.rcpt_tos == [it_staff.email]
    assert "Remote access" in mail.text() and "Bandwidth" in mail.text() and "OVERDUE" in mail.text()
    assert f"http://localhost:8000/policies/{policy.pk}/" in mail.text()
    assert "Not due" not in mail.text()
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.SENT
    assert PolicySettings.load().next_digest_at == monday + dt.timedelta(days=7)


def test_send_now_with_the_broker_down_keeps_the_run_for_the_tick(
    client, login, it_staff, make_campaign, django_capture_on_commit_callbacks, dead_broker
):
    import time

    campaign = make_campaign(next_run_at=timezone.now() + dt.timedelta(days=1))
    login(client, it_staff)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/policies/campaigns/{campaign.pk}/send-now/")
    assert response.status_code == 302
    assert time.monotonic() - started < 5  # the request is not held by the dead broker
    run = CampaignRun.objects.get()
    assert run.fanned_out_at is None
    later = timezone.now() + dispatch.LOST_TASK_AFTER + dt.timedelta(minutes=1)
    assert dispatch.recover(later, enqueue=lambda ids: None)["refanned"] == 1


def test_a_non_smtp_backend_that_fails_leaves_the_row_pending_with_the_error(make_campaign, employee, settings):
    settings.EMAIL_BACKEND = "tests.policies.backends.FailingAPIBackend"
    make_campaign()
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    batches, enqueue = collect()
    dispatch.fan_out(run.pk, enqueue=enqueue)
    retries = dispatch.send_deliveries(batches[0])
    delivery = Delivery.objects.get()
    assert delivery.status == Status.PENDING and delivery.handed_over_at is None
    assert retries == {delivery.pk: PolicySettings.load().retry_backoff_seconds}
    assert "503 Service Unavailable" in delivery.last_error


def test_a_non_smtp_backend_that_works_marks_sent(make_campaign, employee, settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    make_campaign()
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    batches, enqueue = collect()
    dispatch.fan_out(run.pk, enqueue=enqueue)
    assert dispatch.send_deliveries(batches[0]) == {}
    assert Delivery.objects.get().status == Status.SENT and len(mailoutbox) == 1


def test_a_runner_whose_claim_was_taken_over_does_not_deliver(make_campaign, employee, smtp_server):
    from policies import emails
    from portal.mailer import Mailer

    make_campaign()
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    dispatch.fan_out(run.pk, enqueue=lambda ids: None)
    delivery = Delivery.objects.get()
    slow_claim = timezone.now()
    assert sending.claim(Delivery, delivery.pk, slow_claim)  # this runner then stalls past the stuck limit
    later = slow_claim + dispatch.STUCK_SENDING_AFTER + dt.timedelta(minutes=1)
    dispatch.recover(later, enqueue=lambda ids: None)
    assert sending.claim(Delivery, delivery.pk, later)  # another runner has it now
    message = emails.campaign_email(delivery)
    mailer = Mailer()
    policy = dispatch.retry_policy(PolicySettings.load())
    try:
        assert sending.deliver_email(Delivery, delivery.pk, message, mailer, policy, slow_claim) is None
    finally:
        mailer.close()
    assert smtp_server.messages == []  # the stalled runner aborted its DATA at the commit point
    delivery.refresh_from_db()
    assert delivery.status == Status.SENDING and delivery.claimed_at == later and delivery.handed_over_at is None


def test_a_refusal_after_the_whole_message_never_counts_as_sent(make_campaign, employee, smtp_server):
    make_campaign()
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    batches, enqueue = collect()
    dispatch.fan_out(run.pk, enqueue=enqueue)
    smtp_server.refuse("554 5.6.0 Message content rejected")
    dispatch.send_deliveries(batches[0])
    delivery = Delivery.objects.get()
    assert delivery.status == Status.FAILED and delivery.handed_over_at is None and "554" in delivery.last_error


def test_a_row_handed_over_before_the_worker_died_is_uncertain_not_sent_again(make_campaign, employee, smtp_server):
    make_campaign()
    run = dispatch.claim_due_campaigns(timezone.now())[0]
    dispatch.fan_out(run.pk, enqueue=lambda ids: None)
    delivery = Delivery.objects.get()
    claimed_at = timezone.now()
    sending.claim(Delivery, delivery.pk, claimed_at)
    assert sending.hand_over(Delivery, delivery.pk, claimed_at)  # the worker died waiting for the server's reply
    batches, enqueue = collect()
    later = claimed_at + dispatch.STUCK_SENDING_AFTER + dt.timedelta(minutes=1)
    dispatch.recover(later, enqueue=enqueue)
    assert batches == []
    delivery.refresh_from_db()
    assert delivery.status == Status.UNCERTAIN and delivery.sent_at is None
    assert "may or may not have arrived" in delivery.last_error


def test_retries_of_a_batch_go_out_as_one_task_per_25_rows_and_countdown():
    published = []
    retries = {pk: 60 for pk in range(1, 31)} | {31: 120}
    dispatch.enqueue_retries(retries, enqueue=lambda ids, countdown: published.append((ids, countdown)))
    assert published == [(list(range(1, 26)), 60), (list(range(26, 31)), 60), ([31], 120)]
