"""Your devices: add a laptop, phone or tablet, see what it holds, issue its company certificate, revoke it.

A device page is open to its owner and to IT staff (who set up devices for people: they issue the
certificate and hand over the file and its one-time password). Issuing needs the OTP step and the password
entered again. The one-time password stays in the issuer's session for ``SHOWN_SECONDS`` so the page can
show it; the file itself can be downloaded once (``issuing.take_pkcs12``), as a ``.p12`` or, for Apple
devices, inside the ``.mobileconfig`` profile with the mail account.

App passwords (the mail programs of a device) have their own views in ``accounts.app_password_views``.
"""

from __future__ import annotations

import time

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts import app_passwords, audit, mail_setup
from accounts.app_password_views import SHOWN_KEY, shown_secret
from accounts.devices import hygiene, inventory, issuing
from accounts.forms import DeviceForm
from accounts.models import AppPassword, Device, DeviceCertificate, DeviceSettings
from accounts.roles import requires, user_can
from accounts.views import needs_reauth

CERTIFICATE_SHOWN_KEY = "device_certificate_shown"
SHOWN_SECONDS = 900


def get_device(request: HttpRequest, pk: int) -> Device:
    """The one way these views load a device: the signed-in person's own, or anyone's for IT staff; else 404."""
    devices = Device.objects.select_related("user")
    if user_can(request.user, "manage_users"):
        return get_object_or_404(devices, pk=pk)
    return get_object_or_404(devices, pk=pk, user=request.user)


def _needs_otp(request: HttpRequest) -> HttpResponse | None:
    if request.user.is_verified():
        return None
    messages.error(request, "Set up a one-time-password token first: devices need the OTP step.")
    return redirect("otp_tokens")


def shown_certificate(request: HttpRequest, device: Device) -> dict | None:
    """The one-time password of the certificate just issued for ``device`` in this session, while fresh."""
    shown = request.session.get(CERTIFICATE_SHOWN_KEY)
    if not shown or shown.get("device") != device.pk or int(time.time()) - shown.get("at", 0) > SHOWN_SECONDS:
        return None
    return shown


@requires("manage_own_devices")
def devices(request: HttpRequest) -> HttpResponse:
    rule = DeviceSettings.load().rule_for(request.user.role)
    ctx = {
        "rows": inventory.rows_for(request.user),
        "revoked": Device.objects.filter(user=request.user, state=Device.State.REVOKED)[:10],
        "mail_rule": app_passwords.mail_rule(),
        "certificate_rule": rule,
        "rules": DeviceSettings.Rule,
        "server": mail_setup.server_for(request.user.email),
        "login": mail_setup.login_for(request.user.email),
    }
    return render(request, "accounts/devices/devices.html", ctx)


@requires("manage_own_devices")
def device_create(request: HttpRequest) -> HttpResponse:
    if (response := _needs_otp(request)) is not None:
        return response
    form = DeviceForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = inventory.add(request.user, by=request.user, request=request, **form.cleaned_data)
        messages.success(request, f"“{device.name}” is added. Set up its mail program or its certificate below.")
        return redirect("device_detail", pk=device.pk)
    return render(request, "accounts/devices/create.html", {"form": form, "person": request.user})


@requires("manage_own_devices")
@never_cache
def device_detail(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_device(request, pk)
    row = inventory.rows_of(Device.objects.filter(pk=device.pk))[0]
    ctx = {
        "device": device,
        "row": row,
        "own": device.user_id == request.user.pk,
        "shown": shown_certificate(request, device),
        "certificates": device.certificates.select_related("ca", "issued_by", "revoked_by")[:10],
        "certificate_rule": DeviceSettings.load().rule_for(device.user.role),
        "rules": DeviceSettings.Rule,
        "suspended_for_hygiene": bool(row.certificate and hygiene.suspended_for_hygiene(row.certificate)),
        "limit_reached": app_passwords.usable_count(device.user) >= app_passwords.limit_for(device.user),
    }
    return render(request, "accounts/devices/detail.html", ctx)


@requires("manage_own_devices")
@require_POST
def device_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_device(request, pk)
    own = device.user_id == request.user.pk
    reason = Device.RevokeReason.OWNER if own else Device.RevokeReason.IT_STAFF
    if inventory.revoke(device, reason=reason, by=request.user, request=request):
        messages.success(
            request, f"“{device.name}” is revoked: its mail programs and its certificate no longer get in."
        )
    else:
        messages.info(request, f"“{device.name}” was already revoked.")
    return redirect("devices" if own else "all_devices")


@requires("manage_own_devices")
@require_POST
def certificate_issue(request: HttpRequest, pk: int) -> HttpResponse:
    """Issue a certificate for the device (OTP step and the password again; IT staff may issue for anyone)."""
    device = get_device(request, pk)
    if (response := _needs_otp(request)) is not None:
        return response
    if (response := needs_reauth(request, fallback="devices")) is not None:
        return response
    try:
        issued = issuing.issue(device, by=request.user, request=request)
    except issuing.CannotIssue as exc:
        messages.error(request, str(exc))
        return redirect("device_detail", pk=device.pk)
    request.session[CERTIFICATE_SHOWN_KEY] = {
        "device": device.pk,
        "pk": issued.certificate.pk,
        "password": issued.password,
        "at": int(time.time()),
    }
    return redirect("device_certificate", pk=device.pk)


@requires("manage_own_devices")
@never_cache
def certificate(request: HttpRequest, pk: int) -> HttpResponse:
    """The new certificate: its one-time password (once), the download, and how to install it."""
    device = get_device(request, pk)
    if request.method == "POST":
        # "It is installed": the one-time password leaves the session; it is never shown again.
        request.session.pop(CERTIFICATE_SHOWN_KEY, None)
        messages.success(request, f"The certificate of “{device.name}” is set up. Its password is not shown again.")
        return redirect("device_detail", pk=device.pk)
    shown = shown_certificate(request, device)
    waiting = device.certificates.filter(pk=shown["pk"]).first() if shown else None
    ctx = {
        "device": device,
        "own": device.user_id == request.user.pk,
        "password": shown["password"] if shown else "",
        "certificate": waiting,
        "file_waiting": bool(waiting and waiting.downloaded_at is None and waiting.state != "revoked"),
    }
    return render(request, "accounts/devices/certificate.html", ctx)


def _waiting_certificate(request: HttpRequest, device: Device) -> DeviceCertificate:
    shown = shown_certificate(request, device)
    found = device.certificates.filter(pk=shown["pk"]).first() if shown else None
    if found is None:
        raise Http404("The certificate file is given out once, right after it is issued.")
    return found


@requires("manage_own_devices")
@never_cache
@require_GET
def certificate_download(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_device(request, pk)
    data = issuing.take_pkcs12(_waiting_certificate(request, device), request=request)
    if data is None:
        raise Http404("This certificate file was downloaded already. Issue a new certificate if it was lost.")
    response = HttpResponse(data, content_type="application/x-pkcs12")
    response["Content-Disposition"] = f'attachment; filename="certificate-{device.pk}.p12"'
    return response


@requires("manage_own_devices")
@never_cache
@require_GET
def device_profile(request: HttpRequest, pk: int) -> HttpResponse:
    """The Apple profile of the device: its mail account and, right after issuing, its certificate."""
    device = get_device(request, pk)
    person = device.user
    mail = (
        AppPassword.objects.filter(device=device, state=AppPassword.State.ACTIVE, can_read=True)
        .order_by("-created_at")
        .first()
        if device.user_id == request.user.pk
        else None
    )
    secret = shown_secret(request, mail) if mail else None
    pkcs12 = None
    if shown_certificate(request, device):
        pkcs12 = issuing.take_pkcs12(_waiting_certificate(request, device), request=request, via="mobileconfig")
    if mail is None and pkcs12 is None:
        raise Http404("Nothing to put in a profile: make an app password or issue a certificate first.")
    body = mail_setup.mobileconfig(
        email=person.email,
        full_name=person.get_full_name(),
        device_id=device.pk,
        device_name=device.name,
        password_id=mail.pk if mail else None,
        can_send=mail.can_send if mail else True,
        secret=secret,
        pkcs12=pkcs12,
    )
    if secret:
        request.session[SHOWN_KEY] = {**request.session[SHOWN_KEY], "profile_downloaded": True}
    audit.record(
        "device.profile_downloaded",
        request=request,
        target=person.email,
        device=device.pk,
        app_password=mail.pk if mail else None,
        with_password=secret is not None,
        with_certificate=pkcs12 is not None,
    )
    response = HttpResponse(body, content_type="application/x-apple-aspen-config")
    response["Content-Disposition"] = f'attachment; filename="device-{device.pk}.mobileconfig"'
    return response
