"""The load dashboard and configuration drift in Chromium: real sign-in with OTP, strict CSP, real samples."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.e2e


def csp_watch(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    return problems


def test_it_staff_read_the_dashboard_with_live_samples(page, browser_sign_in, it_staff):
    from monitoring.serverload import rollups, sampling
    from monitoring.serverload.models import LoadRollup, LoadSettings, LoadThreshold

    LoadSettings.objects.update_or_create(pk=1, defaults={"line_download_mbps": 100, "line_upload_mbps": 20})
    LoadThreshold.ensure_defaults()
    sampling.take_sample()  # the baseline reading, discarded
    sample = sampling.take_sample()  # real psutil values from this machine
    now = timezone.now()
    LoadRollup.objects.bulk_create(
        LoadRollup(tier="1h", bucket_start=now - timedelta(hours=h), samples=60, cpu_avg=20 + h % 7, cpu_max=95)
        for h in range(1, 24 * 30)
    )
    rollups.refresh_forecast()
    problems = csp_watch(page)

    browser_sign_in(page, it_staff)
    page.get_by_role("link", name="Monitoring").click()
    page.get_by_role("navigation", name="Monitoring").get_by_role("link", name="Server load").click()
    page.wait_for_url("**/monitoring/load/")

    assert page.get_by_role("heading", name="Mail server load").is_visible()
    cpu_gauge = page.locator('[data-gauge="cpu"]')
    assert cpu_gauge.get_attribute("data-level") in {"ok", "warning", "critical"}
    assert cpu_gauge.locator("text.gauge-text").text_content().endswith("%")
    if sample.queue_status == "none":
        assert page.get_by_text("No mail server found").first.is_visible()
    assert page.locator("#chart-cpu svg path.series").count() >= 1

    page.get_by_role("link", name="30 days").click()
    page.wait_for_url("**range=30d**")
    cpu_chart = page.locator("#chart-cpu svg")
    assert cpu_chart.is_visible()
    assert cpu_chart.locator("path.series-max").count() == 1
    assert cpu_chart.locator("line.threshold").count() == 1  # the critical mark is drawn
    box = cpu_chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 60  # the CSS (no inline style) sized it
    assert problems == []


def test_it_staff_patch_check_and_approve_a_drifted_file(page, browser_sign_in, it_staff, tmp_path):
    from monitoring.serverload import drift
    from monitoring.serverload.models import DriftBaseline, DriftCheck, LoadSettings

    main_cf = tmp_path / "main.cf"
    main_cf.write_text("smtpd_tls_security_level = may\n")
    LoadSettings.objects.update_or_create(pk=1, defaults={"watched_files": str(main_cf)})
    drift.run_check(DriftCheck.objects.create(status="running"))  # the first baseline
    main_cf.write_text("smtpd_tls_security_level = none\n")  # what an upgrade might do
    problems = csp_watch(page)

    browser_sign_in(page, it_staff)
    page.goto("/monitoring/load/drift/")
    page.get_by_role("button", name="I have just patched: check now").click()
    assert page.get_by_text("Check requested").is_visible()
    drift.run_due()  # what the next tick does (the button also queues a task)

    page.goto("/monitoring/load/drift/")
    page.get_by_role("link", name=str(main_cf)).click()
    assert page.locator(".diff-del").filter(has_text="smtpd_tls_security_level = may").is_visible()
    assert page.locator(".diff-add").filter(has_text="smtpd_tls_security_level = none").is_visible()
    page.get_by_label("Why is this the new approved state?").fill("Testing opportunistic TLS off on purpose.")
    page.get_by_role("button", name="Approve the new baseline").click()
    page.wait_for_url("**/monitoring/load/drift/")
    assert page.get_by_text("approved as the new baseline").is_visible()
    assert DriftBaseline.objects.get(path=str(main_cf)).content == "smtpd_tls_security_level = none\n"
    assert problems == []


def test_an_executive_copies_the_report_for_the_isp(page, browser_sign_in, executive):
    from monitoring.serverload import alerts
    from monitoring.serverload.models import LoadSample, LoadSettings

    LoadSettings.objects.update_or_create(pk=1, defaults={"line_download_mbps": 50, "line_upload_mbps": 10})
    start = timezone.now() - timedelta(minutes=10)
    for minute in range(7):
        sample = LoadSample.objects.create(
            taken_at=start + timedelta(minutes=minute), cpu=5, load=5, memory=30, swap=0, disk=40, disk_read=0,
            disk_write=0, net_in=46e6, net_out=1e6, net_in_pct=92, net_out_pct=10,
            connections_by_port={"25": {"ESTABLISHED": 200, "SYN_RECV": 35}},
        )  # fmt: skip
        alerts.evaluate(sample)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    problems = csp_watch(page)

    browser_sign_in(page, executive)
    page.goto("/monitoring/load/")
    page.get_by_role("link", name="Details and the report for your ISP").click()
    assert page.get_by_role("heading", name="Report to your ISP").is_visible()
    page.get_by_role("button", name="Copy the text").click()
    page.get_by_role("button", name="Copied").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "of the contracted 50.0 Mbit/s" in copied
    assert "port 25: 235 connections (ESTABLISHED 200, SYN_RECV 35)" in copied
    assert problems == []


def test_a_chart_value_is_read_on_hover_and_with_the_keyboard(page, browser_sign_in, executive):
    from monitoring.serverload.models import LoadRollup, LoadThreshold

    LoadThreshold.ensure_defaults()
    now = timezone.now()
    LoadRollup.objects.bulk_create(
        LoadRollup(tier="1h", bucket_start=now - timedelta(hours=h), samples=60, cpu_avg=40.0, cpu_max=60.0)
        for h in range(2, 24 * 30)
    )
    problems = csp_watch(page)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/monitoring/load/?range=30d")
    browser_sign_in(page, executive, goto=None, wait_for="**/monitoring/load/?range=30d")
    chart = page.locator("#chart-cpu svg")
    readout = page.locator("#readout-cpu")
    chart.hover()  # scrolled into view, the pointer in its middle
    text = readout.inner_text()
    assert "maximum 60 %" in text and "average 40 %" in text, text
    assert page.locator("#chart-cpu .chart-cursor").get_attribute("visibility") == "visible"
    chart.focus()
    page.keyboard.press("Home")
    first = readout.inner_text()
    page.keyboard.press("ArrowRight")
    assert readout.inner_text() != first and "average 40 %" in readout.inner_text()
    assert problems == [] and errors == []
