"""The load dashboard, alert pages, settings and drift pages: read stored rows, render SVG, validate input."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from monitoring.serverload import rollups
from monitoring.serverload.models import DriftBaseline, DriftCheck, DriftFinding, LoadAlert, LoadSettings, LoadThreshold


@pytest.fixture
def history(make_load_sample):
    now = timezone.now()
    for minute in range(1, 120):
        make_load_sample(
            now - timedelta(minutes=minute),
            cpu=85.0 if minute < 10 else 20.0,
            net_in_pct=12.0,
            net_out_pct=3.0,
            queue=7,
            queue_deferred=2,
            processes=[{"name": "Postfix", "count": 9, "cpu": 1.5, "rss": 80_000_000, "memory": 2.0}],
            connections_by_port={"25": {"ESTABLISHED": 4, "LISTEN": 1}},
            mail_server="postfix",
        )
    rollups.build_rollups(now)
    return now


def test_it_shows_gauges_with_their_level(client, login, executive, history):
    LoadThreshold.ensure_defaults()
    login(client, executive)
    response = client.get(reverse("serverload:dashboard"))
    assert response.status_code == 200
    body = response.content.decode()
    assert re.search(r'data-gauge="cpu" data-level="warning"', body)
    assert re.search(r'data-gauge="memory" data-level="ok"', body)
    assert "Postfix" in body and "76.3\xa0MB" in body
    assert re.search(r"data-queue-total data-level=\"ok\">7<", body)


@pytest.mark.parametrize("range_key", ["1h", "24h", "7d", "30d", "1y"])
def test_every_range_renders_svg_without_inline_style_or_script(client, login, it_staff, history, range_key):
    LoadThreshold.ensure_defaults()
    login(client, it_staff)
    response = client.get(reverse("serverload:dashboard"), {"range": range_key})
    body = response.content.decode()
    assert response.status_code == 200
    assert "style=" not in body and "<script>" not in body and " onclick" not in body
    if range_key in {"1h", "24h"}:
        assert 'data-chart="cpu"' in body
        assert 'class="threshold"' in body  # the critical mark is drawn
        assert re.search(r'<path class="series" d="M[\d.]+,[\d.]+ L', body)


def test_an_unknown_range_falls_back_to_24_hours(client, login, it_staff, db):
    login(client, it_staff)
    response = client.get(reverse("serverload:dashboard"), {"range": "'; drop"})
    assert response.context["range_key"] == "24h"


def test_an_empty_installation_explains_what_to_wait_for(client, login, it_staff):
    login(client, it_staff)
    body = client.get(reverse("serverload:dashboard")).content.decode()
    assert "No sample yet" in body


def test_no_mail_server_is_a_state_not_an_error(client, login, it_staff, make_load_sample):
    make_load_sample(timezone.now(), queue_status="none", queue=None, processes=[])
    login(client, it_staff)
    body = client.get(reverse("serverload:dashboard")).content.decode()
    assert "No mail server found" in body


def test_the_alert_page_shows_the_isp_report(client, login, executive, db):
    now = timezone.now()
    alert = LoadAlert.objects.create(
        metric="net_in_pct", raised_at=now, above_since=now, warning_mark=80, critical_mark=90, clear_mark=70,
        value_at_raise=85, peak=91, isp_report="Hello,\nour line was above 80 %...",
    )  # fmt: skip
    login(client, executive)
    body = client.get(reverse("serverload:alert", args=[alert.pk])).content.decode()
    assert "Report to your ISP" in body and "our line was above 80 %" in body
    history = client.get(reverse("serverload:alerts")).content.decode()
    assert "Download (share of the line)" in history


def test_it_staff_change_settings_and_thresholds(client, login, it_staff, db):
    LoadThreshold.ensure_defaults()
    login(client, it_staff)
    response = client.get(reverse("serverload:settings"))
    formset = response.context["formset"]
    data = {
        "sample_interval_seconds": 30, "line_download_mbps": 100, "line_upload_mbps": 20,
        "line_interfaces": "eth0", "watched_mounts": "/\n/var/mail", "mail_system": "postfix",
        "watched_files": "/etc/postfix/*.cf", "drift_check_interval_hours": 12,
        "t-TOTAL_FORMS": len(formset.forms), "t-INITIAL_FORMS": len(formset.forms),
    }  # fmt: skip
    for i, form in enumerate(formset.forms):
        data.update({f"t-{i}-id": form.instance.pk, f"t-{i}-enabled": "on", f"t-{i}-duration_minutes": 5})
        marks = (75, 85, 60) if form.instance.metric == "cpu" else (80, 90, 70)
        if form.instance.metric == "queue":
            marks = (200, 1000, 100)
        if form.instance.metric == "deferred_age":
            marks = (4, 24, 2)
        data.update({f"t-{i}-warning": marks[0], f"t-{i}-critical": marks[1], f"t-{i}-clear": marks[2]})

    response = client.post(reverse("serverload:settings"), data)

    assert response.status_code == 302
    settings = LoadSettings.load()
    assert (settings.sample_interval_seconds, settings.line_download_mbps) == (30, 100)
    assert LoadThreshold.objects.get(metric="cpu").warning == 75
    assert AuditEvent.objects.filter(action="load.settings_changed").exists()

    data["t-0-clear"] = 95  # clear above warning: rejected, nothing saved
    data["sample_interval_seconds"] = 5
    response = client.post(reverse("serverload:settings"), data)
    assert response.status_code == 200
    assert "clear below warning" in response.content.decode()
    assert "between 30 and 3600" in response.content.decode()
    assert LoadSettings.load().sample_interval_seconds == 30


def _finding():
    check = DriftCheck.objects.create(status="done", new_findings=1)
    return DriftFinding.objects.create(
        check_run=check, path="/etc/postfix/main.cf", kind="changed", new_kind="text", new_sha256="a" * 64,
        new_content="myhostname = mx\n", diff="--- a\n+++ b\n@@ -1 +1 @@\n-myhostname = mail\n+myhostname = mx\n",
    )  # fmt: skip


def test_the_drift_page_lists_findings_and_the_patched_button(client, login, it_staff, db):
    finding = _finding()
    login(client, it_staff)
    body = client.get(reverse("serverload:drift")).content.decode()
    assert "I have just patched" in body
    assert reverse("serverload:drift_finding", args=[finding.pk]) in body


def test_executives_see_findings_but_not_the_diffs(client, login, executive, db):
    _finding()
    login(client, executive)
    body = client.get(reverse("serverload:drift")).content.decode()
    assert "/etc/postfix/main.cf" in body
    assert "I have just patched" not in body
    assert "drift/findings/" not in body


def test_the_finding_page_shows_the_diff_and_approval_needs_a_note(client, login, it_staff, db):
    finding = _finding()
    login(client, it_staff)
    body = client.get(reverse("serverload:drift_finding", args=[finding.pk])).content.decode()
    assert '<span class="diff-add">+myhostname = mx</span>' in body

    response = client.post(reverse("serverload:drift_approve", args=[finding.pk]), {"note": " "})
    assert response.status_code == 400
    assert not DriftBaseline.objects.exists()

    response = client.post(reverse("serverload:drift_approve", args=[finding.pk]), {"note": "Renamed the host."})
    assert response.status_code == 302
    assert DriftBaseline.objects.get().content == "myhostname = mx\n"


def test_the_patched_button_queues_a_check(client, login, it_staff, db):
    login(client, it_staff)
    response = client.post(reverse("serverload:drift_check"))
    assert response.status_code == 302
    assert DriftCheck.objects.get().trigger == "patched"
    body = client.get(reverse("serverload:drift")).content.decode()
    assert 'http-equiv="refresh"' in body


def test_the_threshold_form_cannot_add_rows(client, login, it_staff, make_load_sample):
    """A crafted extra form used to create a threshold without a metric, which broke every alert check."""
    from monitoring.serverload import alerts

    LoadThreshold.ensure_defaults()
    count = LoadThreshold.objects.count()
    login(client, it_staff)
    formset = client.get(reverse("serverload:settings")).context["formset"]
    data = {
        "sample_interval_seconds": 60, "watched_mounts": "/", "watched_files": "/etc/mailname",
        "drift_check_interval_hours": 6, "t-TOTAL_FORMS": count + 1, "t-INITIAL_FORMS": count,
    }  # fmt: skip
    for i, form in enumerate(formset.forms):
        t = form.instance
        data.update({f"t-{i}-id": t.pk, f"t-{i}-enabled": "on", f"t-{i}-duration_minutes": t.duration_minutes})
        data.update({f"t-{i}-warning": t.warning, f"t-{i}-critical": t.critical, f"t-{i}-clear": t.clear})
    data.update({f"t-{count}-enabled": "on", f"t-{count}-warning": 50, f"t-{count}-critical": 60})
    data.update({f"t-{count}-clear": 40, f"t-{count}-duration_minutes": 2})

    client.post(reverse("serverload:settings"), data)

    assert LoadThreshold.objects.count() == count
    assert alerts.evaluate(make_load_sample(timezone.now(), cpu=10)) == {}


def test_the_audit_names_the_new_mail_system_and_the_changed_thresholds(client, login, it_staff, db):
    """The queue program is run by the worker: the audit log must say which one IT staff set."""
    LoadThreshold.ensure_defaults()
    login(client, it_staff)
    formset = client.get(reverse("serverload:settings")).context["formset"]
    data = {
        "sample_interval_seconds": 60, "watched_mounts": "/", "watched_files": LoadSettings.load().watched_files,
        "mail_system": "exim", "mail_binary": "/usr/local/bin/exim", "drift_check_interval_hours": 6,
        "t-TOTAL_FORMS": len(formset.forms), "t-INITIAL_FORMS": len(formset.forms),
    }  # fmt: skip
    for i, form in enumerate(formset.forms):
        t = form.instance
        data.update({f"t-{i}-id": t.pk, f"t-{i}-enabled": "on", f"t-{i}-duration_minutes": t.duration_minutes})
        warning = 85 if t.metric == "cpu" else t.warning
        data.update({f"t-{i}-warning": warning, f"t-{i}-critical": t.critical, f"t-{i}-clear": t.clear})

    assert client.post(reverse("serverload:settings"), data).status_code == 302

    details = AuditEvent.objects.get(action="load.settings_changed").details
    assert (details["mail_system"], details["mail_binary"]) == ("exim", "/usr/local/bin/exim")
    assert details["thresholds"] == ["cpu"]
    assert "watched_files" not in details


def test_the_dashboard_has_readable_charts_queue_colour_and_labelled_marks(client, login, it_staff, make_load_sample):
    from django.utils import timezone

    from monitoring.serverload.models import LoadSettings, LoadThreshold

    LoadThreshold.ensure_defaults()
    LoadThreshold.objects.filter(metric="queue").update(warning=100, critical=500)
    LoadSettings.objects.update_or_create(pk=1, defaults={"line_download_mbps": 0.01, "line_upload_mbps": 0.01})
    now = timezone.now()
    for minute in range(5, 0, -1):
        make_load_sample(now - timedelta(minutes=minute), queue=150, net_in_pct=19950.0)
    login(client, it_staff)
    body = client.get(reverse("serverload:dashboard") + "?range=1h").content.decode()
    assert 'tabindex="0"' in body and 'class="chart-readout"' in body and "data-y-top=" in body
    assert 'data-level="warning"' in body and "Above its warning mark of 100" in body
    assert "Over capacity" in body and "19950 %" not in body.split('class="gauge-text"')[6][:40]
    # The disks card holds its table (it scrolls inside the card) and the forecast column keeps its words whole.
    assert '<div class="table-wrap">\n    <table class="load-table">' in body and 'class="forecast"' in body
    settings_page = client.get(reverse("serverload:settings")).content.decode()
    for metric in ("CPU", "Mail queue"):
        for what in ("alerts on", "warning mark", "critical mark", "clear mark", "minutes above the mark"):
            assert f"{metric}: {what}" in settings_page
    # Every visible input of the alert-marks table has a label naming it.
    ids = re.findall(r'<input type="(?:number|checkbox)" name="t-\d+-\w+"[^>]* id="([^"]+)"', settings_page)
    assert len(ids) >= 40
    assert all(f'for="{input_id}"' in settings_page for input_id in ids)


def test_demo_history_ends_now_and_joins_the_live_values(db):
    from monitoring.serverload import demo
    from monitoring.serverload.models import LoadRollup, LoadState

    before = timezone.now()
    demo.load()
    newest = LoadRollup.objects.filter(tier="5m").latest("bucket_start")
    assert before - newest.bucket_start <= timedelta(minutes=10)  # ends at the bucket before the current one
    assert LoadState.load().rolled_until["5m"] == rollups.bucket_floor(before, "5m").isoformat()
    live = {"memory": 31.0, "disk": 40.0, "cpu": 3.0}
    end = before.replace(microsecond=0)
    joined = demo.history_values(end, end, {**demo.live_reading(), **live}, (100.0, 20.0))
    assert joined["memory"] == pytest.approx(31.0) and joined["cpu"] == pytest.approx(3.0)
    week_ago = demo.history_values(end - timedelta(days=2), end, {**demo.live_reading(), **live}, (100.0, 20.0))
    assert abs(week_ago["memory"] - 31.0) > 15  # the made-up rhythm, far from now
