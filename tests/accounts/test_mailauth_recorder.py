"""What the verifier remembers between writes, and the batch write itself."""

from __future__ import annotations

import pytest

from accounts import app_passwords
from accounts.mailauth import recorder
from accounts.mailauth.decision import Answer, PasswordFacts, Policy, Reason, UserFacts, Verdict
from accounts.models import AppPassword, AuditEvent, MailLoginSummary
from accounts.roles import Role
from portal.models import AlertChannel, OutboxMessage

ERIN = UserFacts(1, "erin@example.com", True, "erin@example.com")
POLICY = Policy(alert_threshold=3, alert_minutes=10)


def used(pk=10, first_used=False, user=ERIN):
    password = PasswordFacts(pk, user.id, "Laptop", b"", b"", True, True, "active", first_used)
    return Answer(Verdict.OK, Reason.APP_PASSWORD, user, password)


def refused(user=ERIN):
    return Answer(Verdict.FAIL, Reason.REFUSED, user)


def note(rec, answer, now, ip="192.0.2.1", service="imap"):
    rec.note_answer(answer, login="erin@example.com", service=service, ip=ip, now=now, policy=POLICY)


def test_the_last_use_is_written_at_most_once_a_minute_per_password():
    rec = recorder.Recorder()
    note(rec, used(first_used=True), now=1000)
    assert set(rec.take(1000).last_used) == {10}
    note(rec, used(first_used=True), now=1010, service="smtp")
    assert not rec.take(1010)  # written 10 s ago: kept for later
    note(rec, used(first_used=True), now=1030, service="pop3")
    batch = rec.take(1061)
    assert batch.last_used[10].service == "pop3"  # the newest use, a minute after the last write


def test_the_first_use_is_claimed_once_and_written_at_once():
    rec = recorder.Recorder()
    note(rec, used(), now=1000)
    note(rec, used(), now=1001)
    batch = rec.take(1001)
    assert list(batch.first_used) == [10]
    note(rec, used(), now=1002)
    assert not rec.take(1002).first_used


def test_refusals_are_counted_per_login_reason_address_and_service():
    rec = recorder.Recorder()
    note(rec, refused(), now=1000)
    note(rec, refused(), now=1001)
    note(rec, refused(), now=1002, ip="192.0.2.2")
    batch = rec.take(1002)
    counts = {key[2]: value.count for key, value in batch.refusals.items()}
    assert counts == {"192.0.2.1": 2, "192.0.2.2": 1}


def test_refusal_keys_are_bounded():
    rec = recorder.Recorder()
    for index in range(recorder.MAX_REFUSAL_KEYS + 5):
        note(rec, Answer(Verdict.UNKNOWN, Reason.UNKNOWN_USER), now=1000, ip=f"10.0.{index // 250}.{index % 250}")
    batch = rec.take(1000)
    assert (len(batch.refusals), batch.dropped) == (recorder.MAX_REFUSAL_KEYS, 5)


def test_refusals_alert_once_when_the_threshold_is_reached_within_the_window():
    rec = recorder.Recorder()
    note(rec, refused(), now=1000)
    note(rec, refused(), now=1700)  # the first is 11.7 minutes old by the third
    note(rec, refused(), now=1700.5)
    assert not rec.pending.alerts
    note(rec, refused(), now=1701, ip="192.0.2.9")
    (alert,) = rec.pending.alerts
    assert (alert.user_id, alert.count, alert.minutes) == (1, 3, 10)
    assert alert.addresses[0] == ("192.0.2.1", 2)
    for second in range(10):
        note(rec, refused(), now=1702 + second)
    assert len(rec.pending.alerts) == 1  # one alert per window
    note(rec, refused(), now=1701 + 601)
    assert len(rec.pending.alerts) == 2


def test_a_batch_that_could_not_be_written_is_merged_back():
    rec = recorder.Recorder()
    note(rec, refused(), now=1000)
    note(rec, used(), now=1000)
    batch = rec.take(1000)
    note(rec, refused(), now=1001)
    rec.put_back(batch)
    retry = rec.take(1002)
    assert next(iter(retry.refusals.values())).count == 2
    assert list(retry.first_used) == [10]


@pytest.mark.django_db
def test_write_stores_uses_summaries_audit_events_and_alerts(make_user):
    erin = make_user("erin@example.com")
    make_user("ivan@example.com", role=Role.IT_STAFF)
    AlertChannel.objects.create(name="IT chat", url="json://127.0.0.1:9/hook", severities=["warning"])
    password = app_passwords.create(erin, name="Laptop", can_read=True, can_send=True).password
    user = UserFacts(erin.pk, erin.email, True, erin.email)
    rec = recorder.Recorder()
    note(rec, used(pk=password.pk, user=user), now=1_700_000_000, ip="203.0.113.5")
    for second in range(3):
        note(rec, refused(user), now=1_700_000_001 + second, ip="198.51.100.7")
    rec.note_mailbox(user_id=erin.pk, email=erin.email, ok=True, service="pop3", ip="not an address",
                     now=1_700_000_004, policy=POLICY)  # fmt: skip
    recorder.write(rec.take(1_700_000_005))

    password.refresh_from_db()
    assert (password.last_used_service, password.last_used_ip) == ("imap", "203.0.113.5")
    assert password.first_used_at is not None
    summary = MailLoginSummary.objects.get(user=erin)
    assert (summary.refused, summary.refused_last_ip, summary.mailbox_password_logins) == (3, "198.51.100.7", 1)
    assert summary.mailbox_password_last_ip is None  # Dovecot's value was not an address
    refusal = AuditEvent.objects.get(action="mail_auth.refused")
    assert (refusal.ip_address, refusal.details["count"]) == ("198.51.100.7", 3)
    assert AuditEvent.objects.filter(action="app_password.first_use").count() == 1
    alert = OutboxMessage.objects.get(kind="accounts-mail-refusals", channel=None)
    assert alert.to == ["ivan@example.com"]
    assert alert.severity == "warning"
    assert f"/accounts/users/{erin.pk}/" in alert.body_text
    assert OutboxMessage.objects.get(kind="accounts-mail-refusals", channel__isnull=False).channel_name == "IT chat"

    # Written twice (a retried batch): the first use stays a single event.
    again = recorder.Recorder()
    note(again, used(pk=password.pk, user=user), now=1_700_000_100)
    recorder.write(again.take(1_700_000_100))
    assert AuditEvent.objects.filter(action="app_password.first_use").count() == 1


@pytest.mark.django_db
def test_write_skips_people_and_passwords_deleted_meanwhile(make_user):
    ghost = UserFacts(999, "ghost@example.com", True, "ghost@example.com")
    rec = recorder.Recorder()
    note(rec, used(pk=12345, user=ghost), now=1_700_000_000)
    note(rec, refused(ghost), now=1_700_000_001)
    recorder.write(rec.take(1_700_000_002))
    assert not MailLoginSummary.objects.exists()
    assert AuditEvent.objects.filter(action="mail_auth.refused", target="ghost@example.com").exists()
    assert not AppPassword.objects.exists()
