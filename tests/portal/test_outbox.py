"""The outbox API called directly: keys, links, who gets IT alerts, channels through a real HTTP receiver."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import time_machine
from django.utils import timezone

from portal import outbox, sending
from portal.models import AlertChannel, OutboxMessage

pytestmark = pytest.mark.django_db
Status = OutboxMessage.Status


@pytest.fixture
def webhook(http_receiver):
    return AlertChannel.objects.create(
        name="Webhook", url=f"json://{http_receiver.url}/hook/s3cr3t-token", severities=["warning", "critical"]
    )


@pytest.fixture
def ntfy(http_receiver):
    return AlertChannel.objects.create(
        name="On-call phone", url=f"ntfy://{http_receiver.url}/it-0ncall-topic", severities=["critical"]
    )


def test_absolute_links_carry_the_script_name(settings):
    settings.FORCE_SCRIPT_NAME = "/portal"
    settings.PORTAL_BASE_URL = "https://mail.example.com"
    assert outbox.absolute_url("otp_coverage") == "https://mail.example.com/portal/accounts/coverage/"
    assert outbox.absolute_url("policies:read", 7) == "https://mail.example.com/portal/policies/7/"
    settings.PORTAL_BASE_URL = "https://mail.example.com/portal"  # given with the path: not doubled
    assert outbox.absolute_url("home") == "https://mail.example.com/portal/"
    settings.FORCE_SCRIPT_NAME = None
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    assert outbox.absolute_url("home") == "https://portal.example.com/"


def test_message_links_work_under_a_script_name(settings, make_user, it_staff, smtp_server):
    from accounts import invitations

    settings.FORCE_SCRIPT_NAME = "/portal"
    nina = make_user("nina@example.com", password=None)
    _, token = invitations.invite(nina, actor=it_staff)
    row = OutboxMessage.objects.get(kind="accounts-invitation")
    outbox.send_emails([row.pk])
    (mail,) = smtp_server.messages
    assert f"http://localhost:8000/portal/accounts/invitation/{token}/" in mail.text()
    assert f'href="http://localhost:8000/portal/accounts/invitation/{token}/"' in mail.html()


def test_one_row_per_event_and_destination(it_staff, webhook, ntfy):
    first = outbox.alert_it("accounts-overdue", "test.overdue:1", "critical", {"overdue": [it_staff]})
    again = outbox.alert_it("accounts-overdue", "test.overdue:1", "critical", {"overdue": [it_staff]})
    assert [row.pk for row in first] == [row.pk for row in again]
    assert sorted(row.key for row in first) == [
        f"test.overdue:1|channel:{webhook.pk}",
        f"test.overdue:1|channel:{ntfy.pk}",
        "test.overdue:1|email",
    ]
    assert OutboxMessage.objects.count() == 3


def test_channels_take_only_their_severities_and_only_when_enabled(it_staff, webhook, ntfy):
    AlertChannel.objects.create(name="Off", url="json://127.0.0.1:9/x", severities=["warning"], enabled=False)
    rows = outbox.alert_it("accounts-overdue", "test.overdue:2", "warning", {"overdue": [it_staff]})
    assert sorted(row.destination for row in rows) == ["channel “Webhook”", it_staff.email]
    with pytest.raises(ValueError):
        outbox.alert_it("accounts-overdue", "test.overdue:3", "info", {"overdue": []})


def test_an_alert_reaches_a_webhook_and_ntfy(it_staff, webhook, ntfy, http_receiver):
    rows = outbox.alert_it("accounts-overdue", "test.overdue:4", "critical", {"overdue": [it_staff]})
    for row in rows:
        if row.channel_name:
            assert outbox.send_channel_message(row.pk) == Status.SENT
            assert outbox.send_channel_message(row.pk) == "skipped"  # a redelivered task
    hook = http_receiver.received("/hook/")
    assert len(hook) == 1 and hook[0].json()["title"] == "1 user overdue for OTP enrolment"
    assert hook[0].json()["type"] == "failure"  # critical
    (topic,) = [r for r in http_receiver.received() if r.json().get("topic") == "it-0ncall-topic"]
    assert "ivan@example.com" in topic.json()["message"]
    webhook.refresh_from_db()
    assert webhook.last_result_ok is True and webhook.last_result_at is not None


def test_a_channel_answering_500_is_retried_then_failed_without_holding_others(
    it_staff, webhook, ntfy, http_receiver, settings, caplog
):
    rows = {row.channel_name or "email": row for row in outbox.alert_it("accounts-overdue", "t:5", "critical", {})}
    http_receiver.fail(500)
    assert outbox.send_channel_message(rows["Webhook"].pk) == Status.PENDING
    row = OutboxMessage.objects.get(pk=rows["Webhook"].pk)
    assert row.attempts == 1 and "500" in row.last_error and row.next_attempt_at > timezone.now()
    # Retries follow the backoff for a day from the message's creation, then it fails with the error.
    with time_machine.travel(timezone.now() + dt.timedelta(days=1, minutes=1)):
        assert outbox.tick()["published"] >= 1
        assert outbox.send_channel_message(row.pk) == Status.FAILED
    row.refresh_from_db()
    assert row.status == Status.FAILED and row.attempts == 2 and "500" in row.last_error
    webhook.refresh_from_db()
    assert webhook.last_result_ok is False and "500" in webhook.last_result
    # The email row and the other channel were never touched by this failure.
    assert OutboxMessage.objects.get(pk=rows["email"].pk).attempts == 0
    http_receiver.answer()
    assert outbox.send_channel_message(rows["On-call phone"].pk) == Status.SENT
    # Apprise's messages name the URL's parts: none of them reaches the log or the stored error.
    assert "s3cr3t-token" not in caplog.text and "it-0ncall-topic" not in caplog.text
    assert "s3cr3t-token" not in row.last_error + webhook.last_result


def test_a_hanging_channel_times_out_within_its_limit(it_staff, webhook, http_receiver, settings):
    settings.ALERT_CHANNEL_TIMEOUT = 1.0
    (row,) = [r for r in outbox.alert_it("accounts-overdue", "t:6", "warning", {}) if r.channel_name]
    http_receiver.hang(30)
    started = time.monotonic()
    assert outbox.send_channel_message(row.pk) == Status.PENDING
    assert time.monotonic() - started < 5
    row.refresh_from_db()
    assert row.attempts == 1 and row.last_error


def test_an_email_row_without_anyone_to_tell_is_not_made(webhook):
    rows = outbox.alert_it("accounts-overdue", "t:7", "warning", {})
    assert [row.destination for row in rows] == ["channel “Webhook”"]


def test_retry_by_hand_gives_a_failed_row_a_fresh_day(it_staff, smtp_server, django_capture_on_commit_callbacks):
    row = outbox.send_email("accounts-overdue", "t:8", [it_staff.email], {"overdue": []})
    OutboxMessage.objects.filter(pk=row.pk).update(status=Status.FAILED, attempts=9, last_error="451 later")
    assert outbox.retry(OutboxMessage.objects.filter(pk=row.pk)) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Status.PENDING, 0, "")
    assert row.retry_from > row.created_at
    outbox.send_emails([row.pk])
    assert len(smtp_server.messages) == 1


def test_a_stuck_row_handed_over_is_uncertain_not_sent_again(it_staff, smtp_server):
    row = outbox.send_email("accounts-overdue", "t:9", [it_staff.email], {"overdue": []})
    claimed_at = timezone.now()
    assert sending.claim(OutboxMessage, row.pk, claimed_at)
    assert sending.hand_over(OutboxMessage, row.pk, claimed_at)  # the worker died waiting for the answer
    with time_machine.travel(claimed_at + sending.STUCK_SENDING_AFTER + dt.timedelta(minutes=1)):
        assert outbox.tick() == {"resent": 0, "uncertain": 1, "reachable": 0, "published": 0}
    row.refresh_from_db()
    assert row.status == Status.UNCERTAIN and "may or may not have arrived" in row.last_error
    assert smtp_server.messages == []
