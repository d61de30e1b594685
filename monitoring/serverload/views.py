"""Pages of the server load dashboard, its alerts and settings, and configuration drift.

The views read stored rows only: psutil, the queue command and the watched
files are read by the Celery tick (``monitoring.serverload.sampling.tick``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.audit import record
from accounts.roles import requires
from monitoring.serverload import alerts, charts, drift, rollups
from monitoring.serverload.forms import ApproveBaselineForm, ApproveManyForm, LoadSettingsForm, ThresholdFormSet
from monitoring.serverload.models import (
    DriftBaseline,
    DriftCheck,
    DriftFinding,
    LoadAlert,
    LoadSample,
    LoadSettings,
    LoadState,
    LoadThreshold,
    MailSystemAlert,
)
from portal.lastrun import LastRun, installed_at
from portal.outbox import publish_on_commit

log = logging.getLogger(__name__)


def _get_alert(pk: int) -> LoadAlert:
    return get_object_or_404(LoadAlert, pk=pk)


def _get_finding(pk: int) -> DriftFinding:
    return get_object_or_404(DriftFinding.objects.select_related("check_run", "resolved_by"), pk=pk)


def _gauges(sample: LoadSample | None, thresholds: dict) -> list[charts.Gauge]:
    value = (lambda name: getattr(sample, name)) if sample else (lambda name: None)
    gauges = [
        charts.gauge("cpu", "CPU", value("cpu"), thresholds.get("cpu")),
        charts.gauge("load", "Load per core", value("load"), thresholds.get("load")),
        charts.gauge("memory", "Memory", value("memory"), thresholds.get("memory")),
        charts.gauge("swap", "Swap", value("swap"), thresholds.get("swap")),
        charts.gauge("disk", "Disk space", value("disk"), thresholds.get("disk")),
        charts.gauge("net_in_pct", "Download", value("net_in_pct"), thresholds.get("net_in_pct")),
        charts.gauge("net_out_pct", "Upload", value("net_out_pct"), thresholds.get("net_out_pct")),
    ]
    if sample:
        cores = sample.cpu_per_core or []
        if cores:
            listed = ", ".join(f"{v:.0f}" for v in cores) if len(cores) <= 8 else f"busiest {max(cores):.0f}"
            gauges[0].detail = f"per core: {listed} %"
        if sample.load_average:
            gauges[1].detail = f"{gauges[1].detail} load {sample.load_average[0]:.2f} on {sample.cores} cores".strip()
        for line_gauge, rate in ((gauges[5], sample.net_in), (gauges[6], sample.net_out)):
            measured = charts.format_value(rate, "bit/s")
            # Over capacity on the line is often a capacity set too low in the settings: say what was measured.
            line_gauge.detail = (
                f"{line_gauge.detail} {measured}; is the line's capacity set right?" if line_gauge.over else measured
            )
    return gauges


def _queue_state(sample: LoadSample | None, threshold: LoadThreshold | None) -> dict:
    """The queue's level against its alert marks (ok, warning, critical), for the colour and the words."""
    if sample is None or sample.queue is None or threshold is None or not threshold.enabled:
        return {"queue_level": "ok", "queue_mark": ""}
    return {"queue_level": threshold.level_for(sample.queue), "queue_mark": f"{threshold.warning:g}"}


@requires("view_monitoring")
def dashboard(request: HttpRequest) -> HttpResponse:
    range_key = request.GET.get("range", "24h")
    if range_key not in rollups.RANGES:
        range_key = "24h"
    settings_row = LoadSettings.load()
    thresholds = {t.metric: t for t in LoadThreshold.objects.all()}
    sample = LoadSample.objects.order_by("-taken_at").first()
    interval = timedelta(seconds=settings_row.sample_interval_seconds)
    stale_after = max(3 * interval, timedelta(seconds=300))
    state = LoadState.load()
    chart_list, queue_chart = charts.dashboard_charts(
        range_key, thresholds, settings_row.sample_interval_seconds, rolled_until=state.rolled_until
    )
    ctx = {
        "interfaces": [
            (nic["name"], charts.format_value(nic["in"], "bit/s"), charts.format_value(nic["out"], "bit/s"))
            for nic in (sample.interfaces if sample else [])
        ],
        "disk_io": (charts.format_value(sample.disk_read, "B/s"), charts.format_value(sample.disk_write, "B/s"))
        if sample
        else None,
        "range_key": range_key,
        "ranges": charts.RANGE_CHOICES,
        "sample": sample,
        "stale": sample is None or timezone.now() - sample.taken_at > stale_after,
        "last_run": LastRun(
            "Last sample",
            sample.taken_at if sample else None,
            interval,
            grace=stale_after - interval,
            since=installed_at("serverload"),
        ),
        "settings": settings_row,
        "state": state,
        "gauges": _gauges(sample, thresholds),
        "charts": chart_list,
        "queue_chart": queue_chart,
        "open_alerts": LoadAlert.objects.filter(cleared_at__isnull=True),
        "mail_down": MailSystemAlert.objects.filter(cleared_at__isnull=True).order_by("raised_at"),
        "oldest_age": alerts.age_words(sample.queue_oldest_age) if sample and sample.queue_oldest_age else "",
        **_queue_state(sample, thresholds.get("queue")),
    }
    return render(request, "serverload/dashboard.html", ctx)


@requires("view_monitoring")
def alert_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(LoadAlert.objects.all(), 50).get_page(request.GET.get("page"))
    return render(request, "serverload/alerts.html", {"page": page})


@requires("view_monitoring")
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _get_alert(pk)
    return render(request, "serverload/alert.html", {"alert": alert})


@requires("manage_monitoring")
def load_settings(request: HttpRequest) -> HttpResponse:
    settings_row = LoadSettings.load()
    LoadThreshold.ensure_defaults()
    form = LoadSettingsForm(request.POST or None, instance=settings_row)
    formset = ThresholdFormSet(request.POST or None, queryset=LoadThreshold.objects.all(), prefix="t")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        with transaction.atomic():
            # Only the edited fields: the tick updates next_*_at in between, and a shorter interval applies now.
            settings_row = form.save(commit=False)
            settings_row.next_sample_at = min(
                settings_row.next_sample_at, timezone.now() + timedelta(seconds=settings_row.sample_interval_seconds)
            )
            settings_row.next_drift_check_at = min(
                settings_row.next_drift_check_at,
                timezone.now() + timedelta(hours=settings_row.drift_check_interval_hours),
            )
            settings_row.unmapped_queue_command = ""  # seen and replaced by the choice just saved
            settings_row.save(
                update_fields=[
                    *form.fields, "next_sample_at", "next_drift_check_at", "unmapped_queue_command", "updated_at"
                ]
            )  # fmt: skip
            formset.save()
            # The program the worker runs and the files read are named with their new values; thresholds by metric.
            audited = ("mail_system", "mail_binary", "watched_files", "checksum_files")
            values = {name: form.cleaned_data[name] for name in audited}
            record(
                "load.settings_changed",
                request=request,
                target="load and drift settings",
                fields=form.changed_data,
                thresholds=[f.instance.metric for f in formset.forms if f.has_changed()],
                **{name: value for name, value in values.items() if name in form.changed_data},
            )
        messages.success(request, "Settings saved. They apply from the next sample.")
        return redirect("serverload:settings")
    ctx = {"form": form, "formset": formset, "totals": rollups.totals(), "settings_row": settings_row}
    return render(request, "serverload/settings.html", ctx)


# --- Configuration drift ----------------------------------------------------------------------


@requires("view_monitoring")
def drift_overview(request: HttpRequest) -> HttpResponse:
    settings_row = LoadSettings.load()
    patterns = settings_row.watched_patterns()
    baselines = list(DriftBaseline.objects.select_related("approved_by"))
    open_findings = list(DriftFinding.objects.filter(resolved_at__isnull=True))
    known = {b.path for b in baselines} | {f.path for f in open_findings}
    ctx = {
        "patterns": settings_row.diff_patterns(),
        "checksum_patterns": settings_row.checksum_patterns(),
        "approve_many_form": ApproveManyForm(),
        "not_present": [p for p in patterns if not any(c in p for c in "*?[") and p not in known],
        "baselines": baselines,
        "open_findings": open_findings,
        "closed_findings": DriftFinding.objects.filter(resolved_at__isnull=False).select_related("resolved_by")[:20],
        "checks": DriftCheck.objects.select_related("requested_by")[:10],
        "pending": DriftCheck.objects.filter(status__in=["pending", "running"]).exists(),
        "last_run": LastRun(
            "Last check",
            DriftCheck.objects.filter(finished_at__isnull=False).aggregate(at=Max("finished_at"))["at"],
            timedelta(hours=settings_row.drift_check_interval_hours),
            grace=timedelta(minutes=15),
            since=installed_at("serverload"),
        ),
        "settings": settings_row,
    }
    return render(request, "serverload/drift/overview.html", ctx)


@require_POST
@requires("manage_monitoring")
def drift_check(request: HttpRequest) -> HttpResponse:
    from monitoring.serverload.tasks import run_drift_check

    check = drift.request_check(request.user, request)
    # Broker down: the check stays pending and the tick runs pending checks anyway.
    publish_on_commit(run_drift_check, check.pk)
    messages.success(request, "Check requested: the files are compared within a minute. This page refreshes itself.")
    return redirect("serverload:drift")


@requires("manage_monitoring")
def drift_finding(request: HttpRequest, pk: int) -> HttpResponse:
    finding = _get_finding(pk)
    baseline = DriftBaseline.objects.filter(path=finding.path).first()
    ctx = {
        "finding": finding,
        "baseline": baseline,
        "diff_lines": _diff_lines(finding.diff),
        "form": ApproveBaselineForm(),
        "can_approve": finding.is_open and finding.kind != DriftFinding.Kind.UNREADABLE,
    }
    return render(request, "serverload/drift/finding.html", ctx)


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    classes = {"+": "diff-add", "-": "diff-del", "@": "diff-hunk"}
    lines = []
    for line in diff.splitlines():
        css = "diff-file" if line.startswith(("+++", "---")) else classes.get(line[:1], "")
        lines.append((css, line))
    return lines


@require_POST
@requires("manage_monitoring")
def drift_approve(request: HttpRequest, pk: int) -> HttpResponse:
    finding = _get_finding(pk)
    form = ApproveBaselineForm(request.POST)
    if form.is_valid():
        try:
            drift.approve(finding, request.user, form.cleaned_data["note"], request)
        except drift.CannotApprove as exc:
            messages.error(request, str(exc))
            return redirect("serverload:drift_finding", pk=finding.pk)
        messages.success(request, f"{finding.path}: approved as the new baseline.")
        return redirect("serverload:drift")
    ctx = {
        "finding": finding,
        "baseline": DriftBaseline.objects.filter(path=finding.path).first(),
        "diff_lines": _diff_lines(finding.diff),
        "form": form,
        "can_approve": finding.is_open,
    }
    return render(request, "serverload/drift/finding.html", ctx, status=400)


@require_POST
@requires("manage_monitoring")
def drift_approve_many(request: HttpRequest) -> HttpResponse:
    """Approve the ticked open findings together, with one reason (each audited on its own)."""
    form = ApproveManyForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect("serverload:drift")
    approved, refused = drift.approve_many(
        list(form.cleaned_data["findings"]), request.user, form.cleaned_data["note"], request
    )
    if approved:
        messages.success(request, f"Approved as the new baseline: {', '.join(approved)}.")
    for line in refused:
        messages.error(request, line)
    return redirect("serverload:drift")
