"""IT staff's device pages: every device with filters, a device for someone, the device settings and the CA;
and the CA's public files (certificates and CRLs), open to anyone as CA files are."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts import audit
from accounts.devices import ca, gate, inventory
from accounts.forms import DeviceFilterForm, DeviceForm, DeviceSettingsForm
from accounts.models import DeviceCA, DeviceSettings, User
from accounts.roles import requires

PAGE_SIZE = 50


@requires("manage_users")
def all_devices(request: HttpRequest) -> HttpResponse:
    form = DeviceFilterForm(request.GET or None, filters=inventory.FILTERS)
    data = form.cleaned_data if form.is_valid() else {}
    devices = inventory.filtered(data.get("show", ""), (data.get("q") or "").strip())
    page = Paginator(devices, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    ctx = {
        "form": form,
        "page": page,
        "rows": inventory.rows_of(devices.filter(pk__in=[device.pk for device in page])),
        "counts": inventory.counts(),
        "filters": inventory.FILTERS,
        "query": query.urlencode(),
    }
    return render(request, "accounts/devices/all.html", ctx)


@requires("manage_users")
def user_device_create(request: HttpRequest, pk: int) -> HttpResponse:
    """IT staff add a device for someone (then issue its certificate on the device's page)."""
    person = get_object_or_404(User, pk=pk, is_active=True)
    form = DeviceForm(person, request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = inventory.add(person, by=request.user, request=request, **form.cleaned_data)
        messages.success(request, f"“{device.name}” of {person.email} is added.")
        return redirect("device_detail", pk=device.pk)
    return render(request, "accounts/devices/create.html", {"form": form, "person": person})


@requires("manage_users")
def device_settings(request: HttpRequest) -> HttpResponse:
    rules = DeviceSettings.load()
    facts = {"certificates": gate.facts_certificates(request.user.pk)}
    has_certificate = gate.check(facts, gate.presented(request), for_portal=True) == gate.Verdict.OK
    form = DeviceSettingsForm(
        request.POST or None, instance=rules, editor=request.user, editor_has_certificate=has_certificate
    )
    if request.method == "POST" and form.is_valid():
        form.save()
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        audit.record("settings.devices_changed", request=request, target="organisation", **changes)
        messages.success(request, "Device settings saved.")
        return redirect("device_settings")
    return render(request, "accounts/devices/settings.html", {"form": form, "ca": ca.status()})


@requires("manage_users")
def device_ca(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/devices/ca.html", {"ca": ca.status(), "states": DeviceCA.State})


@requires("manage_users")
@require_POST
def device_ca_rotate(request: HttpRequest) -> HttpResponse:
    try:
        new = ca.rotate(by=request.user, request=request)
    except (ValueError, ca.CAUnavailable) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"“{new.name}” issues new certificates from now on; the previous CA stays trusted until you retire it. "
            "Reload nginx so that it trusts the new one.",
        )
    return redirect("device_ca")


@requires("manage_users")
@require_POST
def device_ca_retire(request: HttpRequest, pk: int) -> HttpResponse:
    retiring = get_object_or_404(DeviceCA, pk=pk)
    if retiring.state != DeviceCA.State.RETIRING:
        messages.info(request, "Only a CA that was rotated out can be retired.")
    else:
        revoked = ca.retire(retiring, by=request.user, request=request)
        messages.success(
            request, f"“{retiring.name}” is retired; {revoked} certificate(s) it had issued are revoked. Reload nginx."
        )
    return redirect("device_ca")


# --- Public CA files (anonymous: what nginx on another machine and certificate checkers fetch) ---------


def _pem(text: str, filename: str, content_type: str) -> HttpResponse:
    if not text:
        raise Http404("The devices CA has not been created yet.")
    response = HttpResponse(text, content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "public, max-age=60"
    return response


@require_GET
def ca_certificates(request: HttpRequest) -> HttpResponse:
    """The trusted CA certificates (PEM): nginx's ``ssl_client_certificate``."""
    return _pem(ca.ca_bundle_pem(), "device-ca-bundle.pem", "application/x-pem-file")


@require_GET
def ca_crls(request: HttpRequest) -> HttpResponse:
    """The CRLs of the trusted CAs (PEM, one after the other): nginx's ``ssl_crl``."""
    return _pem(ca.crl_bundle_pem(), "device-crl.pem", "application/x-pem-file")


@require_GET
def ca_crl(request: HttpRequest, pk: int) -> HttpResponse:
    """One CA's CRL in DER, the address written into the certificates it issues (CRL distribution point)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    row = get_object_or_404(DeviceCA.objects.exclude(crl_pem=""), pk=pk)
    der = x509.load_pem_x509_crl(row.crl_pem.encode()).public_bytes(serialization.Encoding.DER)
    response = HttpResponse(der, content_type="application/pkix-crl")
    response["Cache-Control"] = "public, max-age=60"
    return response
