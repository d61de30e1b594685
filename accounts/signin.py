"""The two sign-in steps: password, then a TOTP or backup code.

Between the steps the user is not signed in: the session only holds who passed the
password step and when. After the OTP step the user is signed in, django-otp marks the
session verified, the session key is rotated and ``otp_verified_at`` is stored (the
webmail gateway reads it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import django_otp
from django.contrib import auth
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import audit, emails, lockout
from accounts.backup_codes import device_for as backup_device_for
from accounts.models import User

# Session keys of the sign-in steps (the webmail gateway reads OTP_VERIFIED_KEY; no other name is used).
PENDING_KEY = "otp_pending"
PENDING_SECONDS = 300
PASSWORD_VERIFIED_KEY = "password_verified_at"  # noqa: S105 (a session key name)
OTP_VERIFIED_KEY = "otp_verified_at"
# Adding or removing a token or regenerating backup codes needs the password this recently.
RECENT_PASSWORD_SECONDS = 600


def start_otp_step(request: HttpRequest, user: User) -> None:
    # A new key after the password too: a session id planted before sign-in is useless for the code step.
    request.session.cycle_key()
    request.session[PENDING_KEY] = {"user_id": user.pk, "backend": user.backend, "at": int(time.time())}


def pending_user(request: HttpRequest) -> User | None:
    """The user who passed the password step in this session in the last few minutes, if any."""
    pending = request.session.get(PENDING_KEY)
    if not pending or int(time.time()) - pending.get("at", 0) > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=pending["user_id"], is_active=True).first()
    if user is not None:
        user.backend = pending["backend"]
    return user


def sign_in_without_token(request: HttpRequest, user: User) -> None:
    """A user with no token yet: signed in, but the middleware keeps them on enrolment."""
    auth.login(request, user)
    request.session[PASSWORD_VERIFIED_KEY] = int(time.time())
    lockout.clear_account(user.email)
    audit.record("login.success", actor=user, target=user.email, request=request, method="password", enrolled=False)


def mark_otp_verified(request: HttpRequest, device) -> None:
    """django-otp's verification for this session, a fresh session key, and the time of the OTP step."""
    django_otp.login(request, device)
    request.session.cycle_key()
    request.session[OTP_VERIFIED_KEY] = int(time.time())


def finish_sign_in(request: HttpRequest, user: User, device) -> None:
    pending = request.session.pop(PENDING_KEY, None)
    if not request.user.is_authenticated or request.user.pk != user.pk:
        auth.login(request, user, backend=getattr(user, "backend", None))
    if pending:
        request.session[PASSWORD_VERIFIED_KEY] = pending["at"]
    mark_otp_verified(request, device)
    lockout.clear_account(user.email)
    method = "backup_code" if device.__class__.__name__ == "BackupCodeDevice" else "totp"
    audit.record("login.success", actor=user, target=user.email, request=request, method=method)


def password_recent(request: HttpRequest) -> bool:
    at = request.session.get(PASSWORD_VERIFIED_KEY, 0)
    return int(time.time()) - at <= RECENT_PASSWORD_SECONDS


@dataclass(frozen=True)
class CodeCheck:
    device: object | None = None
    error: str = ""


def _replayed_step(device: TOTPDevice, token: int) -> int | None:
    """The time step of an already-used code that would otherwise be valid now, else None."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, 0)
    totp.time = time.time()
    centre = totp.t() + device.drift
    for t in range(max(0, centre - device.tolerance), min(centre + device.tolerance, device.last_t) + 1):
        totp.time = device.t0 + t * device.step
        if totp.token() == token:
            return t
    return None


def seconds(n: int) -> str:
    return f"{n} second{'' if n == 1 else 's'}"


def code_wait_seconds(devices: list) -> int:
    """How long until one of ``devices`` takes a code again (django-otp waits 1, 2, 4 … s after each wrong one)."""
    waits = []
    for device in devices:
        allowed, info = device.verify_is_allowed()
        if allowed:
            return 0
        until = (info or {}).get("locked_until")
        waits.append(math.ceil((until - timezone.now()).total_seconds()) if until else 1)
    return max(1, min(waits)) if waits else 0


def check_code(request: HttpRequest, user: User, code: str) -> CodeCheck:
    """Verify a TOTP code (six digits) or a backup code of ``user``; audit failures and reuse.

    Each error says how many seconds django-otp makes the next code wait (1, 2, 4 … after each wrong one).
    """
    cleaned = "".join(code.split())
    ip = audit.client_ip(request)
    is_totp = cleaned.isdigit() and len(cleaned) in (6, 8)
    totp_devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
    backup = backup_device_for(user)
    candidates = totp_devices if is_totp else [backup] if backup is not None else []
    if candidates and (wait := code_wait_seconds(candidates)):
        audit.record("otp.throttled", actor=user, target=user.email, request=request)
        return CodeCheck(error=f"Too many wrong codes. Wait {seconds(wait)}, then enter the newest code from your app.")
    if is_totp:
        for index, device in enumerate(totp_devices):
            # Under a row lock: two requests with one code must not both read the old last_t and pass.
            with transaction.atomic():
                totp_devices[index] = device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
                if device.verify_token(cleaned):
                    return CodeCheck(device=device)
        candidates = totp_devices
        for device in totp_devices:
            step = _replayed_step(device, int(cleaned))
            if step is not None:
                event = audit.record("otp.reuse", actor=user, target=user.email, request=request, token=device.name)
                emails.send_otp_reuse_alert(user, device=device, time_step=step, ip=ip, when=timezone.now())
                lockout.record_code_failure(user, ip, event)
                return CodeCheck(error="This code has already been used. Wait for the next code from your app.")
    elif cleaned and backup is not None and backup.verify_token(cleaned):
        audit.record("otp.backup_code_used", actor=user, target=user.email, request=request)
        return CodeCheck(device=backup)
    event = audit.record("otp.failure", actor=user, target=user.email, request=request)
    lockout.record_code_failure(user, ip, event)
    wait = code_wait_seconds(candidates)
    then = f" Wait {seconds(wait)}, then enter" if wait else " Enter"
    return CodeCheck(error=f"That code is not valid.{then} the current code from your app, or a backup code.")
