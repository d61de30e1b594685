"""Scheduled sweeps: claiming, stored results, ListingChange rows and one alert e-mail per sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from monitoring.dnsbl import sweep as dnsbl_sweep
from monitoring.dnsbl.models import (
    DnsblResult,
    DnsblSchedule,
    DnsblSweep,
    DnsblZone,
    ListingChange,
    MonitoredAddress,
)
from tests.dnsserver import domain_zone, ip_zone

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 42, tzinfo=UTC)
MAIL_RECORDS = {
    ("example.com", "MX"): ["10 mail.example.com."],
    ("mail.example.com", "A"): ["192.0.2.25", "192.0.2.26"],
}


@pytest.fixture
def setup(dns_server, dnsbl_catalogue, it_staff):
    """Two lists and a domain list; the server is restarted per state via ``serve``."""
    dnsbl_catalogue(
        {"zone": "bl.test", "delisting_url": "https://bl.test/remove", "codes": {"127.0.0.2": "Spam source"}},
        {"zone": "other.test"},
        {"zone": "dbl.test", "kind": "domain", "codes": {"127.0.1.2": "Spam domain"}},
    )
    MonitoredAddress.objects.create(value="192.0.2.25", label="mail server")
    MonitoredAddress.objects.create(value="example.com")

    def serve(listed: bool = False, other_mode: str = "normal", bl_mode: str = "normal"):
        entries = {"192.0.2.25": (["127.0.0.2"], "Spam trap hit 2026-03-02")} if listed else {}
        zones = [
            ip_zone("bl.test", entries, mode=bl_mode),
            ip_zone("other.test", mode=other_mode),
            domain_zone("dbl.test"),
        ]
        return dns_server(zones, records=MAIL_RECORDS)

    return serve


def sweep_at(when: datetime, kind: str = DnsblSweep.Kind.SCHEDULED) -> DnsblSweep:
    with time_machine.travel(when, tick=False):
        sweep = DnsblSweep.objects.create(kind=kind)
        return dnsbl_sweep.run_sweep(sweep.pk)


def test_a_sweep_stores_results_health_and_suggestions(setup, sent_mail):
    serve = setup
    serve()
    sweep = sweep_at(T0)
    assert sweep.state == "done" and sweep.total == 3
    results = {(r.address, r.zone_name): r.status for r in DnsblResult.objects.filter(sweep=sweep)}
    assert results == {
        ("192.0.2.25", "bl.test"): "clean",
        ("192.0.2.25", "other.test"): "clean",
        ("example.com", "dbl.test"): "clean",
    }
    assert set(DnsblZone.objects.values_list("health", flat=True)) == {"healthy"}
    assert ListingChange.objects.count() == 0  # first sweep, nothing listed: no transition to report
    assert sent_mail == []
    domain = MonitoredAddress.objects.get(value="example.com")
    assert [s["address"] for s in domain.new_suggestions()] == ["192.0.2.26"]


def test_a_new_listing_is_a_change_and_one_alert_then_no_repeat(setup, sent_mail):
    serve = setup
    serve()
    sweep_at(T0)
    serve(listed=True)
    sweep_at(T0 + timedelta(minutes=30))
    change = ListingChange.objects.get(current="listed")
    assert (change.address, change.zone_name, change.previous) == ("192.0.2.25", "bl.test", "clean")
    assert change.txt == "Spam trap hit 2026-03-02" and change.meaning == "Spam source"
    assert change.changed_at == T0 + timedelta(minutes=30)
    assert len(sent_mail) == 1
    mail = sent_mail[0]
    assert mail.to == ["ivan@example.com"]
    assert "LISTED" in mail.subject
    assert "LISTED: 192.0.2.25 on bl.test: Spam source - Spam trap hit 2026-03-02" in mail.body
    # The same state again: no new change, no second e-mail.
    sweep_at(T0 + timedelta(minutes=60))
    assert ListingChange.objects.filter(current="listed").count() == 1
    assert len(sent_mail) == 1


def test_a_timeout_between_two_listed_answers_does_not_alert_twice(setup, sent_mail):
    serve = setup
    serve(listed=True)
    sweep_at(T0)
    assert len(sent_mail) == 1
    serve(listed=True, bl_mode="silent")
    sweep_at(T0 + timedelta(minutes=30))
    unknown = DnsblResult.objects.filter(address="192.0.2.25", zone_name="bl.test").order_by("-pk").first()
    assert unknown.status == "unknown" and unknown.settled == "listed"  # never "clean"
    assert len(sent_mail) == 2  # the list's health changed to unreachable: that is news
    assert "unreachable" in sent_mail[1].body and "delisted" not in sent_mail[1].body
    serve(listed=True)
    sweep_at(T0 + timedelta(minutes=60))
    assert len(sent_mail) == 3  # health is back ...
    assert "LISTED" not in sent_mail[2].body  # ... but the listing is not news


def test_delisting_is_reported_and_the_listing_duration_is_known(setup, sent_mail):
    from monitoring.dnsbl.report import listing_periods

    serve = setup
    serve(listed=True)
    sweep_at(T0)
    serve()
    sweep_at(T0 + timedelta(hours=5))
    assert "delisted: 192.0.2.25 is no longer on bl.test" in sent_mail[-1].body
    periods = listing_periods(list(ListingChange.objects.order_by("changed_at", "pk")))
    assert len(periods) == 1 and periods[0].duration == timedelta(hours=5)


def test_a_list_that_starts_listing_everything_is_ignored_and_reported(setup, sent_mail):
    serve = setup
    serve()
    sweep_at(T0)
    serve(other_mode="everything")
    sweep_at(T0 + timedelta(minutes=30))
    assert DnsblZone.objects.get(zone="other.test").health == "lists-everything"
    result = DnsblResult.objects.filter(zone_name="other.test").order_by("-pk").first()
    assert result.status == "ignored"
    assert ListingChange.objects.filter(address="", current="lists-everything").exists()
    assert len(sent_mail) == 1 and "other.test" in sent_mail[0].body and "LISTED" not in sent_mail[0].body


def test_the_tick_claims_a_due_sweep_once(db, django_capture_on_commit_callbacks):
    schedule = DnsblSchedule.load()
    schedule.next_run_at = T0
    schedule.save()
    with (
        time_machine.travel(T0 + timedelta(seconds=5), tick=False),
        django_capture_on_commit_callbacks(execute=False) as callbacks,
    ):
        first = dnsbl_sweep.tick()
        second = dnsbl_sweep.tick()
    assert first is not None and first.kind == "scheduled" and second is None
    assert len(callbacks) == 1
    assert DnsblSchedule.load().next_run_at == T0 + timedelta(seconds=5) + timedelta(minutes=30)


def test_the_tick_does_not_start_a_sweep_beside_a_running_check_now(setup, sent_mail):
    """Two sweeps at once would compare against the same previous sweep and alert the same listing twice."""
    serve = setup
    serve()
    sweep_at(T0)
    serve(listed=True)
    DnsblSchedule.objects.update(next_run_at=T0 + timedelta(minutes=30))
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        manual = DnsblSweep.objects.create(kind=DnsblSweep.Kind.MANUAL)  # queued: "check now" was pressed
        assert dnsbl_sweep.tick() is None
    assert not DnsblSweep.objects.filter(kind="scheduled", state="queued").exists()
    with time_machine.travel(T0 + timedelta(minutes=31), tick=False):
        dnsbl_sweep.run_sweep(manual.pk)
    assert len([m for m in sent_mail if "LISTED" in m.body]) == 1
    assert DnsblSchedule.load().next_run_at == T0 + timedelta(minutes=60)  # the run was taken, not postponed


def test_a_stale_copy_of_the_schedule_cannot_claim_twice(db):
    schedule = DnsblSchedule.load()
    schedule.next_run_at = T0
    schedule.save()
    a, b = DnsblSchedule.load(), DnsblSchedule.load()
    assert a.claim(T0) is True
    assert b.claim(T0) is False


def test_a_sweep_is_run_once_even_if_the_task_is_delivered_twice(setup):
    serve = setup
    serve()
    sweep = DnsblSweep.objects.create(kind=DnsblSweep.Kind.MANUAL)
    assert dnsbl_sweep.run_sweep(sweep.pk) is not None
    assert dnsbl_sweep.run_sweep(sweep.pk) is None
    assert DnsblResult.objects.filter(sweep=sweep).count() == 3


def test_with_smtp_down_the_listing_reaches_the_webhook_at_once_and_the_email_once_smtp_is_back(
    setup, smtp_server, http_receiver, settings, it_staff
):
    from portal import outbox
    from portal.models import AlertChannel, OutboxMessage

    settings.FORCE_SCRIPT_NAME = "/portal"
    AlertChannel.objects.create(name="Webhook", url=f"json://{http_receiver.url}/hook", severities=["critical"])
    serve = setup
    serve(listed=True)
    smtp_server.stop()
    sweep = sweep_at(T0)
    rows = {row.channel_name or "email": row for row in OutboxMessage.objects.filter(kind="monitoring-dnsbl-alert")}
    assert sorted(rows) == ["Webhook", "email"] and rows["email"].severity == "critical"
    assert rows["email"].key == f"dnsbl.alert:{sweep.pk}|email"
    with time_machine.travel(T0 + timedelta(seconds=5), tick=False):
        assert outbox.send_channel_message(rows["Webhook"].pk) == "sent"  # its own task: SMTP is not in its way
        assert outbox.send_emails([rows["email"].pk]) == {rows["email"].pk: 60}
    (hook,) = http_receiver.received("/hook")
    assert "LISTED: 192.0.2.25 on bl.test" in hook.json()["message"]
    assert "http://localhost:8000/portal/monitoring/dnsbl/" in hook.json()["message"]
    smtp_server.start()
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        DnsblSchedule.objects.update(next_run_at=T0 + timedelta(hours=1))
        dnsbl_sweep.tick()  # the block-list tick no longer sends anything itself
        outbox.send_emails([rows["email"].pk])
        outbox.send_emails([rows["email"].pk])  # a redelivered task
    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == [it_staff.email] and "LISTED" in mail.subject
    assert 'href="http://localhost:8000/portal/monitoring/dnsbl/"' in mail.html()
    assert len(http_receiver.received("/hook")) == 1


def test_the_tick_resends_a_sweep_the_broker_never_got_and_fails_abandoned_ones(celery_app, redis_server, db):
    import redis

    with time_machine.travel(T0, tick=False):
        lost = DnsblSweep.objects.create(kind=DnsblSweep.Kind.MANUAL)
        abandoned = DnsblSweep.objects.create(kind=DnsblSweep.Kind.CHECK, targets=["192.0.2.1"])
        DnsblSweep.objects.filter(pk=abandoned.pk).update(created_at=T0 - timedelta(minutes=40), state="running")
    DnsblSchedule.objects.update_or_create(pk=1, defaults={"next_run_at": T0 + timedelta(days=1)})
    queue = redis.Redis.from_url(redis_server)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        dnsbl_sweep.tick()
    assert queue.llen("celery") == 0  # still young: the worker may simply be busy
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        dnsbl_sweep.tick()
    assert queue.llen("celery") == 1
    lost.refresh_from_db()
    abandoned.refresh_from_db()
    assert lost.state == "queued"
    assert (abandoned.state, abandoned.error) == ("failed", "no worker finished it within 30 minutes")


def test_the_alert_subject_says_listed_even_when_a_delisting_comes_first(db):
    from django.template.loader import render_to_string

    lines = ["delisted: 192.0.2.26 is no longer on other.test", "LISTED: 192.0.2.25 on bl.test: Spam source"]
    subject = render_to_string("emails/monitoring-dnsbl-alert-subject.txt", {"lines": lines, "organisation_name": "X"})
    assert subject.strip() == "[X] DNS block lists: 2 changes — mail server LISTED"
    subject = render_to_string(
        "emails/monitoring-dnsbl-alert-subject.txt", {"lines": lines[:1], "organisation_name": "X"}
    )
    assert "LISTED" not in subject


def test_a_dns_outage_keeps_a_domains_suggested_addresses(dns_server, dnsbl_catalogue):
    from tests.dnsserver import Zone

    dnsbl_catalogue({"zone": "bl.test"})
    known = [{"address": "192.0.2.25", "host": "mail.example.com"}]
    MonitoredAddress.objects.create(value="example.com", suggestions=known)
    dns_server([ip_zone("bl.test"), Zone("example.com", mode="silent")])
    sweep_at(T0)
    assert MonitoredAddress.objects.get(value="example.com").suggestions == known
