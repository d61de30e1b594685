"""Signing in (password, then OTP), enrolment, own tokens and backup codes, invitations, password reset.

The IT staff pages (users, import, invitations, coverage, lockouts, settings, audit log)
are in ``accounts.staff_views``.
"""

from __future__ import annotations

import time
from functools import wraps

import django_otp
from django.contrib import auth, messages
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django.views.generic import FormView
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import (
    audit,
    backup_codes,
    captcha_pictures,
    emails,
    enrolment,
    invitations,
    lifecycle,
    lockout,
    password_reset,
    signin,
)
from accounts.addresses import MAX_LENGTH
from accounts.devices import gate
from accounts.forms import (
    CAPTCHA_FOR_NETWORK,
    CAPTCHA_PROMPT,
    RESET_LIMITED,
    TOO_MANY_PICTURES,
    WRONG_CREDENTIALS,
    ConfirmTokenForm,
    EnrolStartForm,
    InvitationPasswordForm,
    OTPCodeForm,
    PasswordResetForm,
    ReauthForm,
    SignInForm,
    locked_message,
    wait_message,
)
from accounts.models import BackupCodeDevice, OrganisationSettings, SignInFailure
from accounts.redirects import safe_next_url
from accounts.roles import CapabilityRequiredMixin, requires

ENROL_DEVICE_KEY = "enrol_device_id"
ENROL_NEXT_KEY = "enrol_next"
ENROL_DONE_NEXT_KEY = "enrol_done_next"
BACKUP_CODES_KEY = "backup_codes_once"
# Backup codes stay in the session only until the user confirms they stored them, at most this long.
BACKUP_CODES_SECONDS = 900


def _next(request: HttpRequest) -> str:
    return request.POST.get("next") or request.GET.get("next") or ""


def _go_next(request: HttpRequest, url: str | None = None) -> HttpResponse:
    return redirect(safe_next_url(request, url if url is not None else _next(request)) or reverse("home"))


def _with_next(name: str, next_url: str) -> str:
    return reverse(name) + (f"?{urlencode({'next': next_url})}" if next_url else "")


# --- Sign-in -------------------------------------------------------------------------


def _sign_in_page(request: HttpRequest, form: SignInForm, *, message: str = "", notice: str = "") -> HttpResponse:
    status = 200
    if "captcha" in form.fields and not captcha_pictures.allow(request):
        # Each picture is a stored row: a network asking for pictures by the hundred gets none for a minute.
        form.fields.pop("captcha")
        message, notice, status = TOO_MANY_PICTURES, "", 429
    ctx = {"form": form, "next": _next(request), "message": message, "notice": notice}
    return render(request, "registration/login.html", ctx, status=status)


@never_cache
@csrf_protect
@sensitive_post_parameters("password")
def login_view(request: HttpRequest) -> HttpResponse:
    """The password step, with the soft lockout of ``accounts.lockout``.

    A person is only ever shown what they have earned: a fresh form has no error; a form that did not
    show the picture yet asks for it as an instruction; waits and locks say how long.
    """
    if request.user.is_authenticated and request.user.is_verified():
        return _go_next(request)
    ip = audit.client_ip(request)
    org = OrganisationSettings.load()
    network_captcha = lockout.network_needs_captcha(ip, org)
    network_notice = CAPTCHA_FOR_NETWORK if network_captcha else ""
    if request.method != "POST":
        return _sign_in_page(request, SignInForm(request, captcha=network_captcha), notice=network_notice)
    email = request.POST.get("username", "")[:MAX_LENGTH]
    state = lockout.account_state(email, org)
    captcha = network_captcha or state.captcha

    def fresh(captcha: bool = captcha) -> SignInForm:
        return SignInForm(request, initial={"username": email}, captcha=captcha)

    if state.locked:
        audit.record("login.blocked", actor=None, target=lockout.account_key(email), request=request)
        return _sign_in_page(request, fresh(), message=locked_message(state.locked_until))
    if state.wait_seconds:
        audit.record("login.throttled", actor=None, target=lockout.account_key(email), request=request)
        return _sign_in_page(request, fresh(), message=wait_message(state.wait_seconds), notice=network_notice)
    if captcha and "captcha_0" not in request.POST:
        # The form this person filled in had no picture (it became needed meanwhile): ask, do not scold.
        return _sign_in_page(request, fresh(), notice=network_notice or CAPTCHA_PROMPT)
    form = SignInForm(request, request.POST, captcha=captcha)
    if form.is_valid():
        user = form.user
        if refusal := gate.portal_refusal(request, user):
            # The role needs a company certificate for the portal and this browser has none of theirs.
            return _sign_in_page(request, fresh(), message=refusal)
        if enrolment.has_confirmed_token(user):
            signin.start_otp_step(request, user)
            return redirect(_with_next("otp_verify", _next(request)))
        signin.sign_in_without_token(request, user)
        request.session[ENROL_NEXT_KEY] = _next(request)
        return _go_next(request)
    if not form.has_error("__all__", "invalid_login"):
        return _sign_in_page(request, form, notice=network_notice)  # e.g. a wrong picture code: not a failure
    audit.record("login.failure", actor=None, target=lockout.account_key(email), request=request)
    state = lockout.record_failure(email, ip, SignInFailure.PASSWORD, request=request)
    if state.locked:
        return _sign_in_page(request, fresh(), message=locked_message(state.locked_until))
    message = WRONG_CREDENTIALS + (f" {wait_message(state.wait_seconds)}" if state.wait_seconds else "")
    captcha = state.captcha or lockout.network_needs_captcha(ip, org)
    return _sign_in_page(request, fresh(captcha), message=message, notice=network_notice)


@never_cache
@csrf_protect
@sensitive_post_parameters("code")
def otp_verify(request: HttpRequest) -> HttpResponse:
    """The second step: a TOTP code or a backup code (django-otp's growing wait, not the account lock)."""
    if request.user.is_authenticated and request.user.is_verified():
        return _go_next(request)
    user = request.user if request.user.is_authenticated else signin.pending_user(request)
    if user is None:
        messages.info(request, "Please sign in again.")
        return redirect("login")
    if not request.user.is_authenticated and not enrolment.has_confirmed_token(user):
        # IT staff reset the tokens between the two steps: enrol instead.
        signin.sign_in_without_token(request, user)
        return redirect(_with_next("otp_enrol", _next(request)))
    form = OTPCodeForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        result = signin.check_code(request, user, form.cleaned_data["code"])
        if result.device is not None:
            signin.finish_sign_in(request, user, result.device)
            return _go_next(request)
        error = result.error
        form = OTPCodeForm()  # an empty box for the next code
    ctx = {"form": form, "next": _next(request), "error": error, "pending_email": user.email}
    return render(request, "accounts/otp_verify.html", ctx)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit.record("logout", request=request, target=request.user.email)
    auth.logout(request)
    return redirect("login")


def password_attempt_refused(request: HttpRequest) -> str:
    """Why a signed-in person may not try their password right now (the account's growing wait), or ""."""
    state = lockout.account_state(request.user.email)
    return wait_message(state.wait_seconds) if state.wait_seconds else ""


def password_attempt_failed(request: HttpRequest, action: str) -> str:
    """Count and audit a wrong password on a signed-in page; what to tell the person."""
    audit.record(action, request=request, target=request.user.email)
    state = lockout.record_failure(request.user.email, audit.client_ip(request), SignInFailure.REAUTH, request=request)
    return wait_message(state.wait_seconds) if state.wait_seconds else ""


@requires("manage_own_tokens")
@never_cache
@sensitive_post_parameters("password")
def reauth(request: HttpRequest) -> HttpResponse:
    """Enter the password again before changing tokens or backup codes."""
    form = ReauthForm(request.user, request.POST or None)
    error = ""
    if request.method == "POST":
        if error := password_attempt_refused(request):
            form = ReauthForm(request.user)
        elif form.is_valid():
            request.session[signin.PASSWORD_VERIFIED_KEY] = int(time.time())
            return _go_next(request, _next(request) or reverse("otp_tokens"))
        else:
            error = password_attempt_failed(request, "reauth.failure")
    return render(request, "accounts/reauth.html", {"form": form, "next": _next(request), "error": error})


def needs_reauth(request: HttpRequest, fallback: str = "otp_tokens") -> HttpResponse | None:
    """A redirect to "enter your password again" unless it was entered recently; then back here
    (a GET) or to ``fallback`` (a POST cannot be repeated after the detour)."""
    if signin.password_recent(request):
        return None
    next_url = request.get_full_path() if request.method == "GET" else reverse(fallback)
    return redirect(_with_next("reauth", next_url))


# --- Enrolment: why -> scan -> confirm -> backup codes --------------------------------------


@requires("manage_own_tokens")
@never_cache
def enrol(request: HttpRequest) -> HttpResponse:
    if (response := needs_reauth(request)) is not None:
        return response
    if request.method == "GET" and _next(request):
        request.session[ENROL_NEXT_KEY] = _next(request)
    first = not enrolment.has_confirmed_token(request.user)
    form = EnrolStartForm(request.POST or None, initial={"name": "Phone" if first else "Spare phone"})
    if request.method == "POST" and form.is_valid():
        device = enrolment.start_enrolment(request.user, form.cleaned_data["name"])
        request.session[ENROL_DEVICE_KEY] = device.pk
        return redirect("otp_enrol_scan")
    org_deadline = None
    if first:
        org = OrganisationSettings.load()
        required = enrolment.otp_required(request.user)
        org_deadline = request.user.otp_grace_start + org.grace_period if required else None
    ctx = {"form": form, "first": first, "deadline": org_deadline, "step": 1}
    return render(request, "accounts/enrol_why.html", ctx)


@requires("manage_own_tokens")
@never_cache
def enrol_scan(request: HttpRequest) -> HttpResponse:
    device = enrolment.pending_token(request.user, request.session.get(ENROL_DEVICE_KEY))
    if device is None:
        return redirect("otp_enrol")
    ctx = {
        "device": device,
        "qr_svg": enrolment.qr_svg(device),
        "key_groups": enrolment.key_groups(device),
        "step": 2,
    }
    return render(request, "accounts/enrol_scan.html", ctx)


@requires("manage_own_tokens")
@never_cache
def enrol_confirm(request: HttpRequest) -> HttpResponse:
    device = enrolment.pending_token(request.user, request.session.get(ENROL_DEVICE_KEY))
    if device is None:
        return redirect("otp_enrol")
    form = ConfirmTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if enrolled := enrolment.confirm_token(device, form.cleaned_data["code"], request=request):
            request.session.pop(ENROL_DEVICE_KEY, None)
            if not request.user.is_verified():
                signin.mark_otp_verified(request, device)
                # First token: afterwards on to where the user was going (or home), not the tokens page.
                request.session.setdefault(ENROL_NEXT_KEY, "")
            if backup_codes.device_for(request.user) is None:
                _show_backup_codes_once(request, backup_codes.regenerate(request.user, request=request))
                return redirect("otp_backup_codes")
            emails.send_credentials_changed(request.user, f"a new token “{device.name}” was added", enrolled)
            messages.success(request, f"Token “{device.name}” is ready.")
            return redirect("otp_tokens")
        audit.record("otp.enrol_failure", request=request, target=request.user.email)
        form.add_error("code", "That code does not match. Check the time on your phone and enter the newest code.")
    return render(request, "accounts/enrol_confirm.html", {"form": form, "device": device, "step": 3})


def _show_backup_codes_once(request: HttpRequest, codes: list[str]) -> None:
    request.session[BACKUP_CODES_KEY] = {"codes": codes, "at": int(time.time())}


def _codes_to_show(request: HttpRequest) -> list[str]:
    stored = request.session.get(BACKUP_CODES_KEY)
    if not stored or int(time.time()) - stored["at"] > BACKUP_CODES_SECONDS:
        request.session.pop(BACKUP_CODES_KEY, None)
        return []
    return stored["codes"]


@requires("manage_own_tokens")
@never_cache
def backup_codes_show(request: HttpRequest) -> HttpResponse:
    """The new backup codes, once. "I have stored them" forgets them."""
    if request.method == "POST":
        request.session.pop(BACKUP_CODES_KEY, None)
        if ENROL_NEXT_KEY in request.session:
            # The end of a first enrolment: say what changed, then on to where the person was going.
            request.session[ENROL_DONE_NEXT_KEY] = request.session.pop(ENROL_NEXT_KEY)
            return redirect("otp_enrol_done")
        return redirect("otp_tokens")
    ctx = {"codes": _codes_to_show(request), "remaining": backup_codes.remaining(request.user), "step": 4}
    return render(request, "accounts/backup_codes.html", ctx)


@requires("manage_own_tokens")
def enrol_done(request: HttpRequest) -> HttpResponse:
    """ "You're all set": what the new token changes for signing in, and the way on (the emailed link's page)."""
    tokens = enrolment.confirmed_tokens(request.user)
    if not tokens.exists():
        return redirect("otp_enrol")
    next_url = safe_next_url(request, request.session.get(ENROL_DONE_NEXT_KEY)) or ""
    ctx = {
        "token": tokens.last(),
        "remaining": backup_codes.remaining(request.user),
        "next_url": "" if next_url == reverse("home") else next_url,
        "step": 5,
    }
    return render(request, "accounts/enrol_done.html", ctx)


@requires("manage_own_tokens")
@never_cache
def backup_codes_download(request: HttpRequest) -> HttpResponse:
    codes = _codes_to_show(request)
    if not codes:
        raise Http404("The backup codes are shown only once.")
    from django.conf import settings

    text = (
        f"{settings.ORGANISATION_NAME} security portal - backup codes for {request.user.email}\n"
        "Each code works once. Keep them somewhere safe, away from your phone.\n\n" + "\n".join(codes) + "\n"
    )
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="backup-codes.txt"'
    return response


@requires("manage_own_tokens")
@require_POST
def backup_codes_regenerate(request: HttpRequest) -> HttpResponse:
    if (response := needs_reauth(request)) is not None:
        return response
    signed_in_with_a_backup_code = isinstance(request.user.otp_device, BackupCodeDevice)
    # The old set goes, and with it every session signed in with one of its codes ...
    _show_backup_codes_once(request, backup_codes.regenerate(request.user, request=request, notify=True))
    if signed_in_with_a_backup_code:
        # ... except this one (phone lost, codes running out): it must see the new codes.
        django_otp.login(request, backup_codes.device_for(request.user))
    return redirect("otp_backup_codes")


# --- Own tokens -------------------------------------------------------------------------


@requires("manage_own_tokens")
def tokens(request: HttpRequest) -> HttpResponse:
    tokens = enrolment.confirmed_tokens(request.user)
    ctx = {
        "tokens": tokens,
        # The same rule token_remove enforces, shown before the click rather than refused after it
        "only_token_required": enrolment.otp_required(request.user) and len(tokens) <= 1,
        "backup_remaining": backup_codes.remaining(request.user),
        "has_backup_codes": backup_codes.device_for(request.user) is not None,
        "password_recent": signin.password_recent(request),
    }
    return render(request, "accounts/tokens.html", ctx)


@requires("manage_own_tokens")
@require_POST
def token_remove(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_object_or_404(TOTPDevice, pk=pk, user=request.user, confirmed=True)
    if (response := needs_reauth(request)) is not None:
        return response
    if enrolment.otp_required(request.user) and enrolment.confirmed_tokens(request.user).count() <= 1:
        messages.error(request, "You cannot remove your only token. Add another one first.")
        return redirect("otp_tokens")
    event = enrolment.remove_token(device, request=request)
    emails.send_credentials_changed(request.user, f"the token “{device.name}” was removed", event)
    messages.success(request, f"Token “{device.name}” removed.")
    return redirect("otp_tokens")


# --- Invitations (anonymous) ---------------------------------------------------------------


def _no_referrer(view):
    """The page's URL holds a one-time token: the browser sends on only the origin as Referer, never the path.

    ("no-referrer" would do too, but then browsers send ``Origin: null`` with the form, which CSRF refuses.)
    """

    @wraps(view)
    def wrapper(*args, **kwargs) -> HttpResponse:
        response = view(*args, **kwargs)
        response["Referrer-Policy"] = "strict-origin"
        return response

    return wrapper


@never_cache
@_no_referrer
@sensitive_post_parameters("new_password1", "new_password2")
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = invitations.find(token)
    if invitation is None:
        audit.record("invitation.invalid_link", actor=None, request=request)
        return render(request, "accounts/invitation_invalid.html", status=404)
    user = invitation.user
    form = InvitationPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not invitations.accept(invitation, request=request):
            return render(request, "accounts/invitation_invalid.html", status=404)
        form.save()
        if enrolment.has_confirmed_token(user):
            messages.success(request, "Your password is set. Sign in with it and a code from your app.")
            auth.logout(request)
            return redirect("login")
        signin.sign_in_without_token(request, user)
        return redirect("otp_enrol")
    return render(request, "accounts/invitation_accept.html", {"form": form, "invited_user": user})


# --- Password reset (Django's views with our templates; the OTP step still follows) -----------


class PasswordResetView(FormView):
    """Ask for a reset link: the same answer, work and time whether or not the address has an account."""

    form_class = PasswordResetForm
    template_name = "registration/password_reset_form.html"
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form):
        if password_reset.network_limited(audit.client_ip(self.request), OrganisationSettings.load()):
            form.add_error(None, RESET_LIMITED)
            return self.form_invalid(form)
        password_reset.request_reset(form.cleaned_data["email"], self.request)
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


@method_decorator(_no_referrer, name="dispatch")
class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")
    post_reset_login = False  # signing in still takes the password and the OTP step

    def form_valid(self, form):
        response = super().form_valid(form)
        event = audit.record("password.reset", actor=self.user, target=self.user.email, request=self.request)
        emails.send_credentials_changed(self.user, "your password was reset", event)
        # Whoever holds the mailbox may sign in again: a lock from wrong passwords ends, and every session too.
        lockout.clear_account(self.user.email)
        lifecycle.password_changed(self.user)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"


class PasswordChangeView(CapabilityRequiredMixin, auth_views.PasswordChangeView):
    """Change the password with the current one; wrong ones are counted like on "confirm your password"."""

    capability = "use_portal"
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("otp_tokens")

    def post(self, request, *args, **kwargs):
        if error := password_attempt_refused(request):
            return self.render_to_response(self.get_context_data(form=self.form_class(request.user), error=error))
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        error = ""
        if form.has_error("old_password"):
            error = password_attempt_failed(self.request, "password.change_failure")
        return self.render_to_response(self.get_context_data(form=form, error=error))

    def form_valid(self, form):
        response = super().form_valid(form)  # keeps this session signed in (Django's update_session_auth_hash)
        self.request.session[signin.PASSWORD_VERIFIED_KEY] = int(time.time())
        lifecycle.password_changed(self.request.user, keep=self.request.session.session_key)
        event = audit.record("password.changed", request=self.request, target=self.request.user.email)
        emails.send_credentials_changed(self.request.user, "your password was changed", event)
        messages.success(self.request, "Your password is changed. Other sessions of yours have been signed out.")
        return response
