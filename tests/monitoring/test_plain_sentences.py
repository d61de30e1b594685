"""The executive summary's mail-server lines: one plain sentence per area and status, saying whether mail is
at risk and what IT is doing, never a technical word an executive cannot act on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.dnsbl import report as dnsbl
from monitoring.dnsbl.models import DnsblResult, DnsblSweep, DnsblZone
from monitoring.sending import report as sending
from monitoring.serverload import alerts, drift
from monitoring.status import StatusLine

JARGON = ("DNSBL", "NAMESERVERS", "resolver", "RFC", "NXDOMAIN", "SERVFAIL", "postqueue", "baseline", "%")


def plain(line) -> str:
    sentence = line.plain
    assert sentence, "every status has a plain sentence"
    assert not any(word in sentence for word in JARGON), sentence
    return sentence


# --- Block lists ---------------------------------------------------------------------------------------


def zones(**health_counts: int) -> list[DnsblZone]:
    return [
        DnsblZone(zone=f"{health}{n}.test", name=f"List {health} {n}", health=health.replace("_", "-"), enabled=True)
        for health, count in health_counts.items()
        for n in range(count)
    ]


def swept(total: int = 10) -> DnsblSweep:
    return DnsblSweep(kind="scheduled", state="done", total=total)


def test_block_lists_unknown_when_no_list_answers():
    summary = dnsbl.summarise(swept(), zones(unreachable=17), [], None)
    assert summary.status == "unknown"
    assert plain(summary) == "We cannot check the block lists at the moment; IT has been told and is on it."


def test_block_lists_unknown_before_the_first_sweep_and_when_nothing_is_monitored():
    assert plain(dnsbl.summarise(None, zones(healthy=3), [], None)).startswith("The block lists have not been checked")
    nothing = dnsbl.summarise(swept(0), zones(healthy=3), [], None)
    assert "IT has not added the mail server's addresses" in plain(nothing)


def test_block_lists_listed_says_mail_may_be_refused_and_that_it_is_alerted():
    found = zones(healthy=3)
    results = [DnsblResult(address="192.0.2.25", zone_name=found[0].zone, status="listed")]
    summary = dnsbl.summarise(swept(), found, results, None)
    assert summary.status == "critical"
    assert plain(summary) == (
        f"Some of our mail may be refused: our mail server is on the {found[0].zone} block list. IT has been"
        " alerted and is asking for it to be removed."
    )
    results.append(DnsblResult(address="192.0.2.25", zone_name=found[1].zone, status="listed"))
    assert "is on 2 block lists" in plain(dnsbl.summarise(swept(), found, results, None))


def test_block_lists_clean_says_mail_is_not_at_risk():
    summary = dnsbl.summarise(swept(), zones(healthy=15), [], None)
    assert summary.status == "ok"
    assert plain(summary) == "Mail is not at risk: our mail server is on none of the 15 block lists we check."


def test_block_lists_partly_checked_is_not_at_risk_and_being_looked_into():
    summary = dnsbl.summarise(swept(), zones(healthy=3, refused=2), [], None)
    assert summary.status == "warning"
    assert plain(summary).startswith("Mail is not at risk as far as we can tell")
    assert "IT is looking into it" in summary.plain


def test_the_status_line_carries_both_sentences(db):
    line = dnsbl.status_line()
    assert line.status == "unknown" and line.text == "No sweep has run yet." and line.sentence == line.plain


# --- Server load ---------------------------------------------------------------------------------------


@pytest.fixture
def now():
    return timezone.now()


def load_alert(level: str, metric: str = "cpu"):
    from monitoring.serverload.models import LoadAlert

    at = timezone.now()
    return LoadAlert.objects.create(
        metric=metric, level=level, raised_at=at, above_since=at, warning_mark=80, critical_mark=90, clear_mark=70,
        value_at_raise=85, peak=95 if level == "critical" else 85,
    )  # fmt: skip


def test_load_unknown_without_samples(db):
    line = alerts.status_line()
    assert line.status == "unknown"
    assert plain(line).startswith("We cannot check the mail server's load at the moment")


def test_load_normal(make_load_sample, now):
    make_load_sample(now)
    line = alerts.status_line()
    assert line.status == "ok"
    assert plain(line) == "Mail is not at risk: the mail server is working normally."
    assert "CPU 10 %" in line.text  # the detail IT staff read


def test_load_warning_while_rising_and_once_alerted(make_load_sample, now):
    from monitoring.serverload.models import LoadThreshold

    make_load_sample(now, cpu=85.0)
    LoadThreshold.ensure_defaults()
    LoadThreshold.objects.filter(metric="cpu").update(above_since=now)
    line = alerts.status_line()
    assert line.status == "warning" and plain(line).startswith("Mail is not at risk: the mail server is busier")
    load_alert("warning", "memory")
    line = alerts.status_line()
    assert line.status == "warning"
    assert plain(line) == (
        "Mail is not at risk yet: the mail server's memory is under strain. IT has been alerted and is watching it."
    )


def test_load_critical(make_load_sample, now):
    make_load_sample(now, cpu=99.0)
    load_alert("critical", "net_in_pct")
    line = alerts.status_line()
    assert line.status == "critical"
    assert plain(line) == (
        "Mail may be delayed: the internet line is overloaded. IT has been alerted and is dealing with it."
    )


def test_load_mail_system_down_is_mail_at_risk(make_load_sample, now):
    from monitoring.serverload.models import MailSystemAlert

    make_load_sample(now)
    MailSystemAlert.objects.create(key="mail_system", title="Mail system", detail="the queue cannot be read",
                                   error="postqueue: fatal", raised_at=now)  # fmt: skip
    line = alerts.status_line()
    assert line.status == "critical"
    assert plain(line).startswith("Mail is at risk: part of the mail system is not working")
    assert "postqueue" in line.text or "queue" in line.text


def test_load_queue_unreadable_cannot_tell(make_load_sample, now):
    make_load_sample(now, queue_status="error", queue=None)
    line = alerts.status_line()
    assert line.status == "warning"
    assert plain(line).startswith("We cannot tell whether mail is flowing")


# --- Configuration drift -------------------------------------------------------------------------------


def finding(kind: str = "changed", risks: str = ""):
    from monitoring.serverload.models import DriftCheck, DriftFinding

    check = DriftCheck.objects.create(status="done", finished_at=timezone.now(), new_findings=1)
    return DriftFinding.objects.create(check_run=check, path="/etc/postfix/main.cf", kind=kind, risks=risks)


def test_drift_not_checked(db):
    line = drift.status_line()
    assert line.status == "unknown" and plain(line) == drift.DRIFT_NOT_CHECKED


def test_drift_clean(db):
    from monitoring.serverload.models import DriftBaseline, DriftCheck

    DriftCheck.objects.create(status="done", finished_at=timezone.now())
    DriftBaseline.objects.create(path="/etc/postfix/main.cf", sha256="a" * 64)
    line = drift.status_line()
    assert line.status == "ok"
    assert plain(line) == "Mail is not at risk: the mail server's settings are as IT approved them."


def test_drift_changed_risky_and_minor(db):
    minor = finding("new")
    line = drift.status_line()
    assert line.status == "warning" and plain(line) == drift.DRIFT_MINOR
    minor.delete()
    changed = finding("changed")
    line = drift.status_line()
    assert line.status == "critical" and plain(line) == drift.DRIFT_CHANGED
    changed.delete()
    finding("changed", risks="mynetworks = 0.0.0.0/0: relays for everyone")
    line = drift.status_line()
    assert line.status == "critical"
    assert plain(line).startswith("Mail is at risk: the mail server's settings were changed in a way")


# --- Sending guard -------------------------------------------------------------------------------------


def test_sending_normal_held_back_and_suspended(db, employee, now):
    from monitoring.sending.models import PolicyRefusal, SendingState, SendingSuspension

    SendingState.store(service_seen_at=timezone.now(), service_host="mx1")
    line = sending.status_line()
    assert line.status == "ok" and plain(line) == sending.SENDING_NORMAL
    PolicyRefusal.objects.create(first_at=now, last_at=now, login=employee.email, kind="sender", count=3)
    line = sending.status_line()
    assert line.status == "warning" and "held back 3 messages today" in plain(line)
    SendingSuspension.objects.create(user=employee, reason="Sending burst: 900 recipients")
    line = sending.status_line()
    assert line.status == "critical"
    assert plain(line) == (
        "Mail is at risk: one person's account may have been taken over and used to send spam, so their sending"
        " is stopped. IT has been alerted and is checking it."
    )
    assert employee.email not in line.plain  # names are for IT staff, in the detail


def test_sending_is_not_called_normal_while_nothing_checks_it(db, settings):
    """A policy service that never reported (not in the mail path yet) or stopped answering limits nothing."""
    from monitoring.sending.models import SendingState

    line = sending.status_line()
    assert line.status == "unknown" and plain(line) == sending.SENDING_UNCHECKED
    assert "never reported" in line.text
    late = settings.MAIL_SERVICE_HEARTBEAT_INTERVAL * settings.MAIL_SERVICE_MISSED_BEATS + 60
    SendingState.store(service_seen_at=timezone.now() - timedelta(seconds=late), service_host="mx1")
    line = sending.status_line()
    assert line.status == "unknown" and plain(line) == sending.SENDING_UNCHECKED
    assert "has not answered since" in line.text
    SendingState.store(service_seen_at=timezone.now(), service_host="mx1")
    assert sending.status_line().status == "ok"


def test_an_area_without_a_plain_sentence_falls_back_to_its_text():
    line = StatusLine("Backups", "ok", "Last backup 02:00.")
    assert line.sentence == "Last backup 02:00."
    assert StatusLine("Backups", "ok", "t", plain="Fine.").sentence == "Fine."


def test_a_listing_older_than_a_day_is_still_mail_at_risk():
    found = zones(healthy=2)
    results = [DnsblResult(address="192.0.2.25", zone_name=found[1].zone, status="listed")]
    summary = dnsbl.summarise(swept(), found, results, timezone.now() - timedelta(days=3))
    assert summary.status == "critical" and summary.plain.startswith("Some of our mail may be refused")
