"""Keep signed-in users on the OTP path (finish the OTP step, or enrol a token first), and on a device with
their company certificate where their role needs one for the portal."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

# Pages anyone may open, signed in or not, verified or not (sign-in, anonymous pages).
OPEN_URL_NAMES = frozenset(
    {
        "login",
        "logout",
        "otp_verify",
        "invitation_accept",
        "password_reset",
        "password_reset_done",
        "password_reset_confirm",
        "password_reset_complete",
        "captcha-image",
        "captcha-image-2x",
        "captcha-audio",
        "captcha-refresh",
        "healthz",
        # The webmail gateway's endpoint and hand-off answer for themselves (401/403), never with a
        # redirect; the gateway's staff pages are ordinary pages and need the OTP step like any other.
        "gateway_auth",
        "gateway_signin",
        # Thunderbird's autoconfig: public facts about the mail server, for mail programs.
        "autoconfig",
        "autoconfig_well_known",
        # The devices CA's certificates and CRLs: public, like any CA's (nginx elsewhere fetches them).
        "device_ca_certificates",
        "device_ca_crls",
        "device_ca_crl",
    }
)
# Enrolment: open to a signed-in user who has no confirmed token yet (and only to them: with a
# token, the OTP step comes first, so a password-only session can never add a token of its own).
ENROLMENT_URL_NAMES = frozenset(
    {"reauth", "otp_enrol", "otp_enrol_scan", "otp_enrol_confirm", "otp_backup_codes", "otp_backup_codes_download"}
)


class OTPRequiredMiddleware:
    """After django-otp's middleware: a signed-in user who is not OTP-verified may only finish signing in.

    - a user with a confirmed token goes to the OTP step;
    - a user without one goes to enrolment while OTP is required for them (IT staff: always).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        # Decide on the URL first: the gateway's warm path must not load the user from the database.
        match = request.resolver_match
        url_name = match.url_name if match else None
        if url_name in OPEN_URL_NAMES:
            return None
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        from accounts.enrolment import has_confirmed_token, otp_required

        if has_confirmed_token(user):
            target = "otp_verify"
        elif url_name in ENROLMENT_URL_NAMES:
            return None
        elif otp_required(user):
            target = "otp_enrol"
        else:
            return None
        query = urlencode({"next": request.get_full_path()}) if request.method == "GET" else ""
        return redirect(reverse(target) + (f"?{query}" if query else ""))


class DeviceCertificateMiddleware:
    """With "needed for webmail and the portal" for a person's role, every portal page needs a browser that
    holds their company certificate (``accounts.devices.gate``); the sign-in pages and public URLs stay open.

    What it reads is the gateway's cached user facts (one cache read per page for signed-in people)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        match = request.resolver_match
        if (match.url_name if match else None) in OPEN_URL_NAMES or not request.user.is_authenticated:
            return None
        from accounts import gateway
        from accounts.devices import gate

        facts = gateway.user_facts(request.user.pk)
        if not facts or facts.get("certificate_rule") != "portal":
            return None
        if refusal := gate.portal_refusal(request, request.user, facts):
            return render(request, "accounts/devices/certificate_needed.html", {"message": refusal}, status=403)
        return None
