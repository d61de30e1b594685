"""The webmail gateway: nginx's auth_request endpoint, the sign-in hand-off and IT staff's session list."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote, unquote

from csp.decorators import csp_exempt
from django.contrib import auth, messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts import gateway
from accounts.audit import record
from accounts.devices import gate
from accounts.models import User, WebmailSession
from accounts.redirects import safe_next_url
from accounts.roles import requires


@csp_exempt()  # an empty answer for nginx: no policy header to build
@csrf_exempt  # nginx's subrequest repeats the browser's method (POST to webmail too); it changes nothing
@never_cache
def auth_view(request: HttpRequest) -> HttpResponse:
    """200 with the user's headers when the session may open webmail; 401 otherwise, never a redirect.

    Anonymous visitors are an expected answer here (401), so there is no ``@requires``: nginx turns the
    401 into the sign-in hand-off below. See ``accounts.gateway`` for what is checked and how fast.
    """
    certificate = gate.presented(request)
    decision = gateway.decide(request.session, certificate=certificate)
    if not decision.allowed or decision.facts is None:
        if decision.reason == gateway.Reason.CERTIFICATE:
            gateway.certificate_refused(request, decision, certificate)
        return HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
    gateway.record_pass(request, decision, certificate)
    response = HttpResponse(status=200, content_type="text/plain")
    response["X-Portal-User"] = decision.facts["email"]
    # Percent-encoded UTF-8: header values are Latin-1 and names are not.
    response["X-Portal-Name"] = quote(decision.facts["name"], safe=" @.-'")
    response["X-Portal-Role"] = decision.facts["role"]
    return response


def _webmail_url(request: HttpRequest) -> str | None:
    """The ``next`` that nginx sent, which is the raw original URL (query string included, not encoded)."""
    query = request.META.get("QUERY_STRING", "")
    if not query.startswith("next="):
        return safe_next_url(request, request.GET.get("next"))
    raw = query[len("next=") :]
    if "://" not in raw and not raw.startswith("/"):
        raw = unquote(raw)  # a properly encoded next=https%3A%2F%2F...
    return safe_next_url(request, raw)


@never_cache
@require_http_methods(["GET", "POST"])
def signin_view(request: HttpRequest) -> HttpResponse:
    """Where nginx sends a browser webmail refused: sign in (password + OTP) and go back, or say why not.

    Open to anonymous visitors (they go on to the sign-in page), hence no ``@requires``.
    """
    next_url = _webmail_url(request)
    if not request.user.is_authenticated:
        return redirect_to_login(next_url or reverse("home"))
    if request.method == "POST" and request.POST.get("action") == "retry":
        # "Try again" after installing the certificate: back to webmail, which asks nginx afresh.
        request.session.pop(gateway.CERTIFICATE_REFUSED_KEY, None)
        return redirect(next_url or "home")
    if request.method == "POST":
        # "Sign in again": the OTP step of this session is too old or missing; start a fresh one.
        auth.logout(request)
        return redirect_to_login(next_url or reverse("home"))
    certificate = gate.presented(request)
    decision = gateway.decide(request.session, certificate=certificate)
    refusal = ""
    if decision.reason == gateway.Reason.CERTIFICATE and certificate.verify:
        # This request came through nginx with the browser's certificate: the verdict is first-hand.
        refusal = gate.explain(decision.user_id, certificate, decision.certificate)
    elif (decision.allowed and not certificate.verify) or decision.reason == gateway.Reason.CERTIFICATE:
        # The portal's own host does not ask for certificates: what webmail's check noted in the session.
        refusal = gateway.recent_certificate_refusal(request.session)
    if (decision.allowed or decision.reason == gateway.Reason.CERTIFICATE) and not refusal:
        return redirect(next_url or "home")
    facts = decision.facts or gateway.user_facts(request.user.pk) or {}
    ctx = {
        "decision": decision,
        "reasons": gateway.Reason,
        "next_url": next_url,
        "enrolled": bool(facts.get("devices")),
        "certificate_message": gate.message(refusal) if refusal else "",
    }
    status = 403 if decision.reason == gateway.Reason.ROLE else 200
    return render(request, "accounts/gateway/signin.html", ctx, status=status)


def _otp_verified(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Ending someone's webmail session needs a portal session that itself passed the OTP step."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_verified():
            raise PermissionDenied("Sign in with your one-time password to manage webmail sessions.")
        return view(request, *args, **kwargs)

    return wrapper


def _get_webmail_session(pk: int) -> WebmailSession:
    return get_object_or_404(WebmailSession.objects.select_related("user", "ended_by"), pk=pk)


@requires("manage_users")
@_otp_verified
def sessions_view(request: HttpRequest) -> HttpResponse:
    """Webmail sessions across the organisation, newest first."""
    rows = WebmailSession.objects.select_related("user", "ended_by")[:100]
    return render(request, "accounts/gateway/sessions.html", {"rows": rows, "person": None})


@requires("manage_users")
@_otp_verified
def user_sessions_view(request: HttpRequest, user_id: int) -> HttpResponse:
    """One person's recent webmail sessions, with "end session" for the live ones."""
    person = get_object_or_404(User, pk=user_id)
    rows = person.webmail_sessions.select_related("user", "ended_by")[:30]
    return render(request, "accounts/gateway/sessions.html", {"rows": rows, "person": person})


@require_POST
@requires("manage_users")
@_otp_verified
def end_session_view(request: HttpRequest, pk: int) -> HttpResponse:
    row = _get_webmail_session(pk)
    if gateway.end_session(row, by=request.user):
        record("gateway.session_ended", request=request, target=row.user.email, webmail_session=row.pk)
        messages.success(request, f"Webmail session of {row.user.email} ended; they must sign in again.")
    else:
        messages.info(request, "That webmail session had already ended.")
    return redirect("gateway_user_sessions", user_id=row.user_id)
