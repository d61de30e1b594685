"""Load alerts: raised after the duration, cleared at the clear mark, no flapping, one email each way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from monitoring.serverload import alerts
from monitoring.serverload.models import LoadAlert, LoadSettings, LoadThreshold
from portal.models import OutboxMessage
from tests.conftest import deliver_outbox

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def feed(make_load_sample, values, metric="cpu", start=T0, **extra):
    """One sample a minute with ``metric`` at each value; return the events."""
    events = []
    for minute, value in enumerate(values):
        sample = make_load_sample(start + timedelta(minutes=minute), **{metric: value}, **extra)
        events.append(alerts.evaluate(sample).get(metric))
    return events


def test_it_raises_after_five_minutes_above_the_warning_mark(make_load_sample):
    events = feed(make_load_sample, [85, 85, 85, 85, 85, 86])
    assert events == [None, None, None, None, None, "raised"]
    alert = LoadAlert.objects.get()
    assert (alert.metric, alert.level, alert.above_since, alert.raised_at) == (
        "cpu",
        "warning",
        T0,
        T0 + timedelta(minutes=5),
    )
    assert alert.peak == 86


def test_a_dip_below_the_mark_restarts_the_duration(make_load_sample):
    events = feed(make_load_sample, [85, 85, 85, 79, 85, 85, 85, 85])
    assert "raised" not in events
    assert not LoadAlert.objects.exists()


def test_it_does_not_flap_around_the_mark(make_load_sample):
    values = [85] * 6 + [79, 81, 75, 82, 71, 84, 72, 80]
    events = feed(make_load_sample, values)
    assert events.count("raised") == 1
    assert "cleared" not in events
    assert LoadAlert.objects.count() == 1


def test_it_clears_at_the_clear_mark_and_can_raise_again(make_load_sample):
    events = feed(make_load_sample, [85] * 6 + [70] + [90] * 6)
    assert events[6] == "cleared"
    assert events.count("raised") == 2
    first, second = LoadAlert.objects.order_by("raised_at")
    assert first.cleared_at == T0 + timedelta(minutes=6) and first.value_at_clear == 70
    assert second.is_open


def test_five_minutes_above_the_critical_mark_makes_it_critical(make_load_sample):
    feed(make_load_sample, [95] * 6)
    assert LoadAlert.objects.get().level == "critical"


def test_a_short_critical_spike_stays_a_warning(make_load_sample):
    feed(make_load_sample, [85, 85, 99, 85, 85, 85])
    alert = LoadAlert.objects.get()
    assert alert.level == "warning"
    assert alert.peak == 99


def test_thresholds_are_per_metric_and_can_be_disabled(make_load_sample):
    LoadThreshold.ensure_defaults()
    LoadThreshold.objects.filter(metric="memory").update(warning=50, clear=40, critical=60, duration_minutes=2)
    LoadThreshold.objects.filter(metric="cpu").update(enabled=False)
    events = feed(make_load_sample, [55, 55, 55], metric="memory", cpu=99)
    assert events == [None, None, "raised"]
    assert list(LoadAlert.objects.values_list("metric", flat=True)) == ["memory"]


def test_one_email_when_raised_and_one_when_cleared(make_load_sample, smtp_server, it_staff, make_user):
    make_user("erin@example.com")  # employees are not told
    feed(make_load_sample, [88] * 6)
    assert deliver_outbox() == 1
    assert deliver_outbox() == 0
    [raised] = smtp_server.messages
    assert raised.rcpt_tos == [it_staff.email]
    assert "CPU" in raised.subject and "WARNING" in raised.subject

    feed(make_load_sample, [60], start=T0 + timedelta(minutes=6))
    assert deliver_outbox() == 1
    assert deliver_outbox() == 0
    assert "CLEARED" in smtp_server.messages[1].subject
    alert = LoadAlert.objects.get()
    assert alert.messages_summary() == ("sent", "2 sent")
    assert [row.key for row in alert.messages()] == [
        f"serverload.load-raised:{alert.pk}|email",
        f"serverload.load-cleared:{alert.pk}|email",
    ]


def test_a_refused_email_is_kept_and_retried(make_load_sample, smtp_server, it_staff):
    feed(make_load_sample, [88] * 6)
    smtp_server.refuse()
    assert deliver_outbox() == 0
    [row] = LoadAlert.objects.get().messages()
    assert row.status == "pending" and "451" in row.last_error and row.attempts == 1

    smtp_server.refuse(None)
    import time_machine

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert deliver_outbox() == 1
    assert len(smtp_server.messages) == 1


def test_a_bandwidth_alert_carries_a_report_for_the_isp(make_load_sample, smtp_server, it_staff):
    LoadSettings.objects.update_or_create(pk=1, defaults={"line_download_mbps": 50, "line_upload_mbps": 10})
    ports = {"25": {"ESTABLISHED": 180, "SYN_RECV": 40, "LISTEN": 1}, "587": {"ESTABLISHED": 3}}
    feed(make_load_sample, [92] * 6, metric="net_in_pct", net_in=46e6, net_out=2e6, connections_by_port=ports)

    alert = LoadAlert.objects.get()
    assert alert.metric == "net_in_pct"
    report = alert.isp_report
    assert "2026-03-02 10:00" in report and "still is" in report
    assert "peak 46.0 Mbit/s of the contracted 50.0 Mbit/s" in report
    assert "port 25: 220 connections (ESTABLISHED 180, SYN_RECV 40)" in report
    assert report.index("port 25") < report.index("port 587")

    deliver_outbox()
    assert "report to forward" not in smtp_server.messages[0].subject
    assert "peak 46.0 Mbit/s" in smtp_server.messages[0].text()

    feed(make_load_sample, [50], metric="net_in_pct", start=T0 + timedelta(minutes=6), net_in=25e6)
    alert.refresh_from_db()
    assert "to 2026-03-02 10:06" in alert.isp_report and "still is" not in alert.isp_report


@pytest.mark.parametrize("value", [None])
def test_a_missing_value_changes_nothing(make_load_sample, value):
    # No line capacity configured: the share of the line is unknown, never 0 %.
    events = feed(make_load_sample, [value] * 7, metric="net_in_pct")
    assert events == [None] * 7


def test_an_open_warning_becomes_critical_after_the_duration_above_the_critical_mark(make_load_sample):
    events = feed(make_load_sample, [85] * 6 + [95] * 6)
    assert events.count("raised") == 1
    alert = LoadAlert.objects.get()
    assert (alert.level, alert.peak, alert.is_open) == ("critical", 95, True)


def test_the_mail_queue_alert_counts_messages(make_load_sample):
    events = feed(make_load_sample, [150, 250, 300, 320, 400, 380, 260], metric="queue")
    assert events[-1] == "raised"
    alert = LoadAlert.objects.get()
    assert (alert.metric, alert.unit, alert.warning_mark) == ("queue", "messages", 200)


def test_status_line_reads_stored_rows(make_load_sample, django_assert_max_num_queries):
    from django.utils import timezone

    assert alerts.status_line().status == "unknown"
    make_load_sample(timezone.now(), queue_status="none", queue=None)
    with django_assert_max_num_queries(4):
        line = alerts.status_line()
    assert line.status == "ok"
    assert "CPU 10 %" in line.text and "no mail server found" in line.text


def test_status_line_warns_while_a_value_is_above_its_mark_before_the_alert(make_load_sample):
    from django.utils import timezone

    from monitoring.serverload.models import LoadThreshold

    make_load_sample(timezone.now(), cpu=97.0)
    LoadThreshold.ensure_defaults()
    LoadThreshold.objects.filter(metric="cpu").update(above_since=timezone.now())
    line = alerts.status_line()
    assert line.status == "warning"
    assert line.text.startswith("CPU above 80 % since")
    assert "5 minutes" in line.text


def test_a_long_smtp_outage_still_sends_both_emails_once(make_load_sample, smtp_server, it_staff):
    """Half an hour of refused mail (one try a minute) must not use up the retries of either email."""
    import time_machine

    feed(make_load_sample, [88] * 6)
    smtp_server.refuse()
    for minute in range(30):
        with time_machine.travel(T0 + timedelta(minutes=6 + minute), tick=False):
            assert deliver_outbox() == 0
    assert LoadAlert.objects.get().messages_summary()[0] == "pending"
    smtp_server.refuse(None)
    with time_machine.travel(T0 + timedelta(minutes=40), tick=False):
        assert deliver_outbox() == 1

    feed(make_load_sample, [60], start=T0 + timedelta(minutes=41))
    smtp_server.refuse()
    for minute in range(5):
        with time_machine.travel(T0 + timedelta(minutes=42 + minute), tick=False):
            assert deliver_outbox() == 0
    smtp_server.refuse(None)
    with time_machine.travel(T0 + timedelta(minutes=50), tick=False):
        assert deliver_outbox() == 1
        assert deliver_outbox() == 0
    assert [("CLEARED" in m.subject) for m in smtp_server.messages] == [False, True]


def test_mail_is_not_retried_for_ever(make_load_sample, smtp_server, it_staff):
    feed(make_load_sample, [88] * 6)
    OutboxMessage.objects.update(retry_from=timezone.now() - timedelta(days=2))  # a day of retries is over
    smtp_server.refuse()
    assert deliver_outbox() == 0
    assert smtp_server.messages == [] and LoadAlert.objects.get().messages_summary() == ("failed", "1 of 1 failed")


def test_the_isp_report_names_the_direction_of_the_line(make_load_sample):
    """Lines are asymmetric: the ISP must read whether the upload or the download was full."""
    LoadSettings.objects.update_or_create(pk=1, defaults={"line_download_mbps": 50, "line_upload_mbps": 10})
    feed(make_load_sample, [95] * 6, metric="net_out_pct", net_in=1e6, net_out=9.5e6)
    report = LoadAlert.objects.get().isp_report
    assert "the upload on our mail server's internet line was above 80 % of its capacity" in report
    assert "peak 9.5 Mbit/s of the contracted 10.0 Mbit/s" in report


def test_turning_a_metric_off_closes_its_open_alert_with_one_email(make_load_sample, smtp_server, it_staff):
    """An alert of a metric whose alerts were turned off used to stay open (and in the status) for ever."""
    feed(make_load_sample, [97] * 6, metric="swap")
    deliver_outbox()
    LoadThreshold.objects.filter(metric="swap").update(enabled=False)

    events = feed(make_load_sample, [97, 97], metric="swap", start=T0 + timedelta(minutes=6))

    assert events == ["cleared", None]
    alert = LoadAlert.objects.get()
    assert alert.cleared_at == T0 + timedelta(minutes=6) and alert.value_at_clear is None
    assert not LoadAlert.objects.filter(cleared_at__isnull=True).exists()  # gone from the status line
    assert deliver_outbox() == 1
    cleared = smtp_server.messages[1]
    assert "alerts for it were turned off" in cleared.subject and "turned off" in cleared.text()
