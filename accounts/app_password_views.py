"""App passwords for a device's mail programs: create (the secret is shown once), set up, revoke; IT staff
revoke and reinstate; Thunderbird autoconfig.

A person who passed the OTP step and entered their password again creates an app password for one of
their devices; its secret is kept in the session for ``SECRET_SECONDS`` so the set-up page can show it
(once) and the device's first ``.mobileconfig`` download can carry it.
"""

from __future__ import annotations

import time

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts import app_passwords, mail_setup
from accounts.forms import AppPasswordForm
from accounts.models import AppPassword, Device, User
from accounts.roles import requires
from accounts.views import needs_reauth

SHOWN_KEY = "app_password_shown"
# The new secret stays in the session this long (or until "I have entered it"), like backup codes.
SECRET_SECONDS = 900


def _get_own_password(request: HttpRequest, pk: int) -> AppPassword:
    """The one way these views load an app password: the signed-in person's own, else 404."""
    return get_object_or_404(AppPassword.objects.select_related("user", "device"), pk=pk, user=request.user)


def _shown(request: HttpRequest, app_password: AppPassword) -> dict | None:
    """The just-created secret of ``app_password`` if this session may still see it."""
    shown = request.session.get(SHOWN_KEY)
    if not shown or shown.get("pk") != app_password.pk or int(time.time()) - shown.get("at", 0) > SECRET_SECONDS:
        return None
    if not app_password.is_active:
        return None
    return shown


def shown_secret(request: HttpRequest, app_password: AppPassword) -> str | None:
    """The secret for the device's Apple profile: only in the first download after it was made."""
    shown = _shown(request, app_password)
    return shown["secret"] if shown and not shown.get("profile_downloaded") else None


@requires("manage_own_devices")
@never_cache
def app_password_create(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_object_or_404(Device, pk=pk, user=request.user, state=Device.State.ACTIVE)
    if not request.user.is_verified():
        messages.error(request, "Set up a one-time-password token first: app passwords need the OTP step.")
        return redirect("otp_tokens")
    if (response := needs_reauth(request, fallback="devices")) is not None:
        return response
    form = AppPasswordForm(request.user, request.POST or None, initial={"name": f"Mail on {device.name}"})
    limit = app_passwords.limit_for(request.user)
    if request.method == "POST" and form.is_valid():
        try:
            created = app_passwords.create(
                request.user,
                name=form.cleaned_data["name"],
                can_read=form.can_read,
                can_send=form.can_send,
                device=device,
                request=request,
            )
        except app_passwords.LimitReached:
            form.add_error(None, f"You have {limit} app passwords, the most allowed. Revoke one you no longer use.")
        else:
            request.session[SHOWN_KEY] = {
                "pk": created.password.pk,
                "secret": created.secret,
                "at": int(time.time()),
                "profile_downloaded": False,
            }
            return redirect("app_password_setup", pk=created.password.pk)
    ctx = {"form": form, "device": device, "limit": limit, "count": app_passwords.usable_count(request.user)}
    return render(request, "accounts/devices/app_password_create.html", ctx)


@requires("manage_own_devices")
@never_cache
def app_password_setup(request: HttpRequest, pk: int) -> HttpResponse:
    """Set up mail on a device: the secret (right after creating it), server settings, per-program steps."""
    app_password = _get_own_password(request, pk)
    if request.method == "POST":
        # "I have entered it": the secret leaves the session; it can never be shown again.
        request.session.pop(SHOWN_KEY, None)
        messages.success(request, f"“{app_password.name}” is set up. The password is not shown again.")
        return redirect("device_detail", pk=app_password.device_id)
    shown = _shown(request, app_password)
    ctx = {
        "app_password": app_password,
        "device": app_password.device,
        "secret": shown["secret"] if shown else "",
        "profile_has_password": bool(shown) and not shown.get("profile_downloaded"),
        "server": mail_setup.server_for(request.user.email),
        "login": mail_setup.login_for(request.user.email),
    }
    return render(request, "accounts/devices/setup.html", ctx)


@requires("manage_own_devices")
@require_POST
def app_password_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    app_password = _get_own_password(request, pk)
    if app_passwords.revoke(app_password, by=request.user, reason=AppPassword.RevokeReason.OWNER, request=request):
        messages.success(request, f"“{app_password.name}” is revoked: that device can no longer get or send mail.")
    else:
        messages.info(request, f"“{app_password.name}” was already revoked.")
    return redirect("device_detail", pk=app_password.device_id)


# --- IT staff -------------------------------------------------------------------------------------


@requires("manage_users")
@require_POST
def staff_revoke(request: HttpRequest, pk: int, password_pk: int) -> HttpResponse:
    app_password = get_object_or_404(AppPassword.objects.select_related("user"), pk=password_pk, user_id=pk)
    if app_passwords.revoke(app_password, by=request.user, reason=AppPassword.RevokeReason.IT_STAFF, request=request):
        messages.success(request, f"App password “{app_password.name}” of {app_password.user.email} revoked.")
    else:
        messages.info(request, "That app password was already revoked.")
    return redirect("user_detail", pk=pk)


@requires("manage_users")
@require_POST
def staff_revoke_all(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    count = app_passwords.revoke_all(person, reason=AppPassword.RevokeReason.IT_STAFF, by=request.user, request=request)
    messages.success(request, f"Revoked {count} app password(s) of {person.email}.")
    return redirect("user_detail", pk=pk)


@requires("manage_users")
@require_POST
def staff_reinstate(request: HttpRequest, pk: int) -> HttpResponse:
    """Let a person's suspended app passwords send again (suspended by the sending guard), with a reason."""
    person = get_object_or_404(User, pk=pk)
    reason = " ".join(request.POST.get("reason", "").split())[:300]
    if not reason:
        messages.error(request, "Say why sending is safe again (e.g. “password changed, laptop scanned”).")
        return redirect("user_detail", pk=pk)
    count = app_passwords.reinstate_sending(person, by=request.user, reason=reason, request=request)
    messages.success(request, f"{count} app password(s) of {person.email} may send mail again.")
    return redirect("user_detail", pk=pk)


# --- Thunderbird autoconfig (anonymous, like the mail server's own names) ----------------------------


@require_GET
def autoconfig(request: HttpRequest) -> HttpResponse:
    """``/mail/config-v1.1.xml`` and ``/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=...``.

    Open to anyone: it holds only what a mail program needs to find the server, never whether an
    address exists. The domain comes from ``emailaddress`` (or the Host, autoconfig.<domain>) and
    must be the domain of someone in the portal.
    """
    address = request.GET.get("emailaddress", "").strip().lower()
    domain = mail_setup.domain_of(address) if "@" in address else ""
    host = request.get_host().split(":", 1)[0].lower()
    if not domain and host.startswith("autoconfig."):
        domain = host.removeprefix("autoconfig.")
    if not mail_setup.serves_domain(domain):
        raise Http404("Unknown mail domain.")
    response = HttpResponse(mail_setup.autoconfig_xml(domain), content_type="application/xml; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    return response
