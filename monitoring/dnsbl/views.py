"""DNS block list pages. They read stored rows; every DNS lookup runs in a Celery task."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.audit import record
from accounts.roles import requires
from monitoring.dnsbl import report
from monitoring.dnsbl.checker import expand_targets
from monitoring.dnsbl.forms import AddressForm, CheckForm, ScheduleForm, ZoneForm
from monitoring.dnsbl.models import DnsblSchedule, DnsblSweep, DnsblZone, MonitoredAddress
from monitoring.dnsbl.sweep import active_sweep, queue_sweep

BROKER_DOWN = (
    "The task queue (the Celery broker) is not reachable, so no worker has this check yet. It stays queued and is"
    " handed over again every 2 minutes for 30 minutes: check that Redis and the Celery worker are running."
)


def _get_sweep_for_user(request: HttpRequest, pk: int) -> DnsblSweep:
    """Monitoring sweeps for readers of the dashboard; new-address checks for IT staff only."""
    sweep = get_object_or_404(DnsblSweep, pk=pk)
    if sweep.kind == DnsblSweep.Kind.CHECK and not request.user.can("manage_monitoring"):
        raise Http404
    return sweep


@requires("view_monitoring")
def dashboard(request: HttpRequest) -> HttpResponse:
    ctx = report.dashboard(request.user.can("manage_monitoring"))
    ctx["schedule_form"] = ScheduleForm(instance=ctx["schedule"])
    return render(request, "dnsbl/dashboard.html", ctx)


@requires("view_monitoring")
def address_history(request: HttpRequest, pk: int) -> HttpResponse:
    address = get_object_or_404(MonitoredAddress, pk=pk)
    ctx = {"address": address, "timeline": report.timeline(address)}
    return render(request, "dnsbl/address.html", ctx)


@requires("manage_monitoring")
@require_POST
def sweep_now(request: HttpRequest) -> HttpResponse:
    if active_sweep() is None:
        sweep = queue_sweep(DnsblSweep.Kind.MANUAL, user=request.user)
        record("dnsbl.sweep_requested", request=request, target=f"sweep {sweep.pk}")
        if sweep.handed_over is False:
            messages.warning(request, BROKER_DOWN)
        else:
            messages.success(request, "The check has started; this page shows its progress.")
    else:
        messages.info(request, "A check is already running.")
    return redirect("dnsbl:dashboard")


@never_cache
@requires("view_monitoring")
def sweep_status(request: HttpRequest, pk: int) -> JsonResponse:
    sweep = _get_sweep_for_user(request, pk)
    return JsonResponse(
        {"state": sweep.state, "done": sweep.done, "total": sweep.total, "percent": sweep.percent, "error": sweep.error}
    )


@requires("manage_monitoring")
@require_POST
def schedule(request: HttpRequest) -> HttpResponse:
    form = ScheduleForm(request.POST, instance=DnsblSchedule.load())
    if form.is_valid():
        form.save()
        record("dnsbl.schedule_changed", request=request, interval_minutes=form.cleaned_data["interval_minutes"])
        messages.success(request, f"Sweeps now run every {form.cleaned_data['interval_minutes']} minutes.")
    else:
        messages.error(request, " ".join(form.errors.get("interval_minutes", ["Invalid interval."])))
    return redirect("dnsbl:dashboard")


@requires("manage_monitoring")
def zones(request: HttpRequest) -> HttpResponse:
    return render(request, "dnsbl/zones.html", {"zones": DnsblZone.objects.all()})


@requires("manage_monitoring")
def zone_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    zone = get_object_or_404(DnsblZone, pk=pk) if pk else None
    form = ZoneForm(request.POST or None, instance=zone)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        # The key is a credential: the audit log records only that the list changed.
        record("dnsbl.zone_saved", request=request, target=saved.zone, enabled=saved.enabled)
        messages.success(request, f"{saved.name} saved.")
        return redirect("dnsbl:zones")
    return render(request, "dnsbl/zone_form.html", {"form": form, "zone": zone})


@requires("manage_monitoring")
def addresses(request: HttpRequest) -> HttpResponse:
    form = AddressForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        address = form.save()
        record("dnsbl.address_added", request=request, target=address.value)
        messages.success(request, f"{address.value} is now monitored from the next sweep.")
        return redirect("dnsbl:addresses")
    addresses = list(MonitoredAddress.objects.all())
    known = {address.value for address in addresses}
    rows = [(address, address.new_suggestions(known)) for address in addresses]
    ctx = {"form": form, "rows": rows}
    return render(request, "dnsbl/addresses.html", ctx)


@requires("manage_monitoring")
@require_POST
def address_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    address = get_object_or_404(MonitoredAddress, pk=pk)
    if request.POST.get("action") == "delete":
        address.delete()
        record("dnsbl.address_removed", request=request, target=address.value)
        messages.success(request, f"{address.value} is no longer monitored; its history was removed.")
    else:
        address.enabled = not address.enabled
        address.save(update_fields=["enabled"])
        record("dnsbl.address_toggled", request=request, target=address.value, enabled=address.enabled)
    return redirect("dnsbl:addresses")


@requires("manage_monitoring")
def check_new(request: HttpRequest) -> HttpResponse:
    form = CheckForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        zone_ids = [zone.pk for zone in form.cleaned_data["zones"]]
        sweep = queue_sweep(
            DnsblSweep.Kind.CHECK, user=request.user, targets=form.cleaned_data["targets"], zone_ids=zone_ids
        )
        record("dnsbl.check_requested", request=request, target=" ".join(sweep.targets)[:300])
        if sweep.handed_over is False:
            messages.warning(request, BROKER_DOWN)
        return redirect("dnsbl:check_result", pk=sweep.pk)
    recent = DnsblSweep.objects.filter(kind=DnsblSweep.Kind.CHECK)[:10]
    return render(request, "dnsbl/check.html", {"form": form, "recent": recent})


@requires("manage_monitoring")
def check_result(request: HttpRequest, pk: int) -> HttpResponse:
    sweep = _get_sweep_for_user(request, pk)
    if sweep.kind != DnsblSweep.Kind.CHECK:
        raise Http404
    ctx = {
        "sweep": sweep,
        "verdict": report.check_verdict(sweep, expand_targets(sweep.targets)) if sweep.state == "done" else None,
        "legend": report.LEGEND,
    }
    return render(request, "dnsbl/check_result.html", ctx)
