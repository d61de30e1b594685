"""What the policy service writes in batches (totals, refusals, relay attempts, alerts, suspensions) and the
snapshot it loads (limits per role and person, aliases, shared mailboxes, suspensions)."""

from __future__ import annotations

import pytest

from accounts import app_passwords
from accounts.models import AppPassword, AuditEvent
from monitoring.sending.models import (
    LimitOverride,
    PolicyRefusal,
    RelayAttempt,
    SenderAlias,
    SenderProfile,
    SendingHour,
    SendingSettings,
    SendingSuspension,
    SharedMailbox,
)
from monitoring.sending.policy import protocol
from monitoring.sending.policy import snapshot as snapshots
from monitoring.sending.policy.decision import Counts, Limits, decide
from monitoring.sending.policy.protocol import parse
from monitoring.sending.policy.recorder import Recorder
from monitoring.sending.policy.writer import write
from portal.models import OutboxMessage
from tests.policyservice import end_of_message, rcpt

pytestmark = pytest.mark.django_db
T0 = 1_700_000_000 // 3600 * 3600


def note(recorder, snapshot, request: dict, counts=None, now=T0 + 60, first=True):
    counts = counts or Counts()
    parsed = parse(protocol.encode(request))
    verdict = decide(parsed, snapshot, counts, first_recipient=first)
    login = verdict.sender.email if verdict.sender else parsed.sasl_username
    recorder.note(verdict, parsed, login, now, counts.tried_hour)
    return verdict


def test_the_snapshot_resolves_limits_person_over_role_over_organisation(make_user):
    SendingSettings.store(recipients_per_hour=100, recipients_per_day=500, messages_per_minute=20)
    boss = make_user("boss@example.com", role="executive")
    erin = make_user("erin@example.com")
    LimitOverride.objects.create(role="executive", recipients_per_hour=300)
    LimitOverride.objects.create(user=boss, recipients_per_day=2000)
    found = snapshots.load()
    assert found.senders_by_id[boss.pk].limits == Limits(300, 2000, 20)
    assert found.senders_by_id[erin.pk].limits == Limits(100, 500, 20)


def test_the_snapshot_holds_aliases_shared_mailboxes_suspensions_and_usual_hours(make_user):
    erin = make_user("Erin@Example.com")
    make_user("gone@example.com", is_active=False)
    SenderAlias.objects.create(user=erin, address="E.Smith@example.com")
    SharedMailbox.objects.create(address="Info@example.com").members.add(erin)
    SenderProfile.objects.create(user=erin, usual_hour=45, active_hours=40)
    SendingSuspension.objects.create(user=erin, reason="test")
    found = snapshots.load()
    sender = found.sender_for("ERIN@example.com")
    assert sender.addresses == {"erin@example.com", "e.smith@example.com", "info@example.com"}
    assert (sender.usual_hour, sender.burst_threshold, sender.suspended) == (45, 450, True)
    assert found.sender_for("gone@example.com") is None


def test_a_change_moves_the_version_the_service_polls(make_user):
    before = snapshots.version()
    erin = make_user("erin@example.com")
    after_user = snapshots.version()
    SenderAlias.objects.create(user=erin, address="e@example.com")
    after_alias = snapshots.version()
    erin.role = "executive"
    erin.save(update_fields=["role"])
    assert before != after_user != after_alias != snapshots.version()
    erin.save(update_fields=["last_login"])
    assert snapshots.version() == snapshots.version()


def test_a_batch_writes_totals_refusals_relay_attempts_and_audit_events_adding_to_what_is_there(make_user):
    make_user("it@example.com", role="it_staff")
    erin = make_user("erin@example.com")
    snapshot = snapshots.load()
    recorder = Recorder()
    note(recorder, snapshot, rcpt("erin@example.com"))
    note(recorder, snapshot, rcpt("erin@example.com", recipient="b@x.test"), first=False)
    note(recorder, snapshot, end_of_message("erin@example.com", recipients=2))
    note(recorder, snapshot, rcpt("erin@example.com", sender="ceo@example.com"))
    note(recorder, snapshot, rcpt("erin@example.com"), counts=Counts(recipients_hour=500))
    note(recorder, snapshot, rcpt("", sender="spam@x.test", policy_context="relay", client_address="203.0.113.9"))
    write(recorder.take())
    note(recorder, snapshot, end_of_message("erin@example.com", recipients=1))
    write(recorder.take())

    hour = SendingHour.objects.get()
    assert (hour.login, hour.user, hour.messages, hour.recipients, hour.attempted, hour.deferred, hour.refused) == (
        "erin@example.com", erin, 2, 3, 4, 1, 1,
    )  # fmt: skip
    assert sorted(PolicyRefusal.objects.values_list("kind", "detail", "count")) == [
        ("hour", "200", 1),
        ("sender", "ceo@example.com", 1),
    ]
    relay = RelayAttempt.objects.get()
    assert (relay.client_address, relay.attempts, relay.last_sender) == ("203.0.113.9", 1, "spam@x.test")
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"sending.deferred", "sending.refused", "sending.relay_attempts", "sending.limit_reached"} <= actions
    assert OutboxMessage.objects.filter(kind="sending-limit-reached").count() == 1


def test_a_soft_mark_alerts_it_once_per_person_rule_and_window_even_when_written_twice(make_user):
    make_user("it@example.com", role="it_staff")
    make_user("erin@example.com")
    SendingSettings.store(recipients_per_hour=10)
    snapshot = snapshots.load()
    recorder = Recorder()
    for value in range(10):
        note(recorder, snapshot, rcpt("erin@example.com"), counts=Counts(recipients_hour=value), first=False)
    batch = recorder.take()
    assert [(e.soft, e.rule) for e in batch.limit_events] == [(True, "hour")]
    write(batch)
    write(batch)  # a batch written again (the answer to the first write lost): still one alert
    second = Recorder()  # another service sharing the counters
    note(second, snapshot, rcpt("erin@example.com"), counts=Counts(recipients_hour=7), first=False)
    write(second.take())
    assert OutboxMessage.objects.filter(kind="sending-soft-mark", key__endswith="|email").count() == 1


def test_a_burst_suspends_the_sending_app_passwords_and_tells_the_person_and_it(make_user):
    make_user("it@example.com", role="it_staff")
    erin = make_user("erin@example.com")
    app_passwords.create(erin, name="Laptop", can_read=True, can_send=True)
    snapshot = snapshots.load()
    recorder = Recorder()
    verdict = note(recorder, snapshot, rcpt("erin@example.com"), counts=Counts(tried_hour=300))
    assert verdict.kind == "burst"
    assert write(recorder.take()) == []
    suspension = SendingSuspension.objects.get()
    assert suspension.is_open and suspension.app_passwords_suspended == 1
    assert suspension.evidence["tried_last_hour"] == 300 and suspension.evidence["threshold"] == 300
    assert AppPassword.objects.get().state == "suspended"
    assert {"sending-suspended", "sending-suspended-notice"} <= set(
        OutboxMessage.objects.values_list("kind", flat=True)
    )
    assert AuditEvent.objects.filter(action="sending.suspended", target="erin@example.com").exists()
    assert snapshots.load().sender_for("erin@example.com").suspended
