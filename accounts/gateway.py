"""The webmail gateway's decision: may this portal session open webmail right now?

nginx asks ``GET /gateway/auth`` (``auth_request``) on every webmail request,
so the answer must come without the database in the common case:

1. The portal session is read through the ``cached_db`` session store
   (Redis in production): one cache read. A session that ended (sign-out,
   "end session" by IT staff) is gone from cache and database alike, so a
   replayed cookie finds nothing.
2. The session itself says whether the one-time-password step passed: the
   django-otp device id (``otp_device_id``) and ``otp_verified_at`` (Unix
   time, written by the sign-in view). Older than ``GATEWAY_MAX_AGE``
   seconds means "ask for the OTP again".
3. What the answer needs about the user -- email, display name, role,
   active, the session-auth hash (changes with the password) and the ids of
   their confirmed OTP devices -- is one small cache entry per user
   (``user_facts``), rebuilt from the database when missing (at most every
   ``FACTS_TTL`` seconds per user). Saving or deleting the user or any of
   their OTP devices drops the entry (signal receivers in
   ``accounts.signals``), so a password change and a token reset end webmail
   access on the next request: the session's device is no longer among the
   user's confirmed devices. A check that read the database just before
   such a change and cached its facts just after is caught by the fence token
   that the change replaced (``forget_user``). Deactivation deletes the sessions themselves
   (``accounts.lifecycle``).
4. With a company certificate needed for the person's role (``DeviceSettings``), the certificate nginx
   verified must be one of the person's usable ones; those are part of the same cached facts, so the
   rule costs no extra read (``accounts.devices.gate``).
5. The first pass of each session writes a ``WebmailSession`` row and an
   audit event and marks the session, so later passes write nothing (but
   "last seen" of the certificate's device, every few minutes).

Everything here is plain functions over a session; the view only turns a
``Decision`` into 200 (with the user headers) or 401.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user

from accounts.audit import client_ip, record
from accounts.devices import gate
from accounts.models import Device, DeviceSettings, User, WebmailSession
from accounts.signin import OTP_VERIFIED_KEY

# Set on the session's first gateway pass: {"id": WebmailSession pk, "key": session key, "otp": device@time}.
MARKER_KEY = "gateway_session"
FACTS_TTL = 300
# A device's "last seen via webmail" is written at most this often per session.
SEEN_EVERY_SECONDS = 300
# Set by a refusal for the certificate: the sign-in hand-off explains it instead of sending the browser back.
CERTIFICATE_REFUSED_KEY = "gateway_certificate_refused"


class Reason:
    OK = "ok"
    NO_SESSION = "no session"
    NO_OTP = "one-time password not verified"
    EXPIRED = "gateway sign-in expired"
    UNKNOWN_USER = "user no longer exists"
    INACTIVE = "user deactivated"
    PASSWORD_CHANGED = "password changed since sign-in"  # noqa: S105 - a reason, not a secret
    TOKEN_RESET = "one-time password token reset"  # noqa: S105
    ROLE = "role may not use webmail"
    CERTIFICATE = "company certificate needed"


@dataclass(frozen=True)
class Decision:
    reason: str
    user_id: int | None = None
    facts: dict | None = None
    certificate: str = ""  # the gate's verdict when reason is CERTIFICATE

    @property
    def allowed(self) -> bool:
        return self.reason == Reason.OK


def facts_key(user_id: int | str) -> str:
    return f"gateway:user:{user_id}"


def fence_key(user_id: int | str) -> str:
    return f"gateway:user:{user_id}:fence"


def user_facts(user_id: int | str) -> dict | None:
    """The few facts the gateway needs about a user, from the cache or (rebuilt) from the database.

    A check that read the database just before a token reset committed could store the old facts just
    after ``forget_user`` dropped them, and they would then open webmail for ``FACTS_TTL`` seconds. So
    ``forget_user`` also puts a new token in the user's fence, and facts count only when they were built
    under the fence that stands now: both are read in one round trip, with no clock involved.
    """
    key, fence = facts_key(user_id), fence_key(user_id)
    found = cache.get_many([key, fence])
    facts, standing = found.get(key), found.get(fence)
    if facts is not None and facts.get("fence") == standing:
        return facts
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return None
    facts = {
        "email": user.email,
        "name": user.get_full_name(),
        "role": user.role,
        "active": user.is_active,
        "session_hash": user.get_session_auth_hash(),
        "devices": sorted(device.persistent_id for device in devices_for_user(user, confirmed=True)),
        "certificate_rule": gate.rule_for(user.role),
        "certificates": gate.facts_certificates(user.pk),
        "fence": standing,
    }
    cache.set(key, facts, FACTS_TTL)
    return facts


def forget_user(user_id: int | str | None) -> None:
    if user_id is not None:
        cache.set(fence_key(user_id), secrets.token_hex(8), 2 * FACTS_TTL)
        cache.delete(facts_key(user_id))


def forget_everyone() -> None:
    """The rules changed for everyone (device settings): every person's facts are rebuilt on their next check."""
    pks = list(User.objects.values_list("pk", flat=True))
    cache.set_many({fence_key(pk): secrets.token_hex(8) for pk in pks}, 2 * FACTS_TTL)
    cache.delete_many([facts_key(pk) for pk in pks])


def role_may_use_webmail(role: str) -> bool:
    return role in settings.GATEWAY_ROLES


def decide(session: SessionBase, now: float | None = None, certificate: gate.Presented = gate.ABSENT) -> Decision:
    """Whether ``session`` (with the browser's ``certificate``, as nginx verified it) may pass, and why not."""
    user_id = session.get(SESSION_KEY)
    if user_id is None:
        return Decision(Reason.NO_SESSION)
    device_id = session.get(DEVICE_ID_SESSION_KEY)
    verified_at = session.get(OTP_VERIFIED_KEY)
    if not device_id or not isinstance(verified_at, int | float):
        return Decision(Reason.NO_OTP, user_id)
    now = time.time() if now is None else now
    if not (now - settings.GATEWAY_MAX_AGE < verified_at <= now + 60):
        return Decision(Reason.EXPIRED, user_id)
    facts = user_facts(user_id)
    if facts is None:
        return Decision(Reason.UNKNOWN_USER, user_id)
    if not facts["active"]:
        return Decision(Reason.INACTIVE, user_id, facts)
    if not constant_time_compare(session.get(HASH_SESSION_KEY, ""), facts["session_hash"]):
        return Decision(Reason.PASSWORD_CHANGED, user_id, facts)
    if device_id not in facts["devices"]:
        return Decision(Reason.TOKEN_RESET, user_id, facts)
    if not role_may_use_webmail(facts["role"]):
        return Decision(Reason.ROLE, user_id, facts)
    if facts.get("certificate_rule", DeviceSettings.Rule.NONE) != DeviceSettings.Rule.NONE:
        verdict = gate.check(facts, certificate, now)
        if verdict != gate.Verdict.OK:
            return Decision(Reason.CERTIFICATE, user_id, facts, certificate=verdict)
    return Decision(Reason.OK, user_id, facts)


def certificate_refused(request: HttpRequest, decision: Decision, certificate: gate.Presented) -> None:
    """A refusal for the certificate: audited (serial, address), and noted in the session for the sign-in page."""
    verdict = gate.explain(decision.user_id, certificate, decision.certificate)
    email = decision.facts["email"] if decision.facts else ""
    gate.refused(
        request, user_id=decision.user_id, email=email, certificate=certificate, verdict=verdict, where="webmail"
    )
    noted = request.session.get(CERTIFICATE_REFUSED_KEY) or {}
    # Written only when it changes or grows old: a refused browser retrying must not write the session each time.
    if noted.get("verdict") != verdict or time.time() - noted.get("at", 0) > 60:
        request.session[CERTIFICATE_REFUSED_KEY] = {"verdict": verdict, "at": int(time.time())}


def recent_certificate_refusal(session: SessionBase, seconds: int = 300) -> str:
    """The verdict of this session's last refusal for the certificate, if it is recent ("" otherwise)."""
    noted = session.get(CERTIFICATE_REFUSED_KEY) or {}
    return noted.get("verdict", "") if time.time() - noted.get("at", 0) <= seconds else ""


def record_pass(request: HttpRequest, decision: Decision, certificate: gate.Presented = gate.ABSENT) -> None:
    """Note an allowed pass: the session's first one writes a WebmailSession row and an audit event; the
    certificate's device is "last seen via webmail" (every few minutes)."""
    session = request.session
    marker = session.get(MARKER_KEY)
    # A new OTP step in the same session (enrolled again after a token reset) is a new webmail session.
    otp_step = f"{session[DEVICE_ID_SESSION_KEY]}@{session[OTP_VERIFIED_KEY]}"
    same_otp_step = bool(marker) and marker.get("otp", otp_step) == otp_step
    device_id = gate.device_of(decision.facts or {}, certificate)
    now = int(time.time())
    seen_due = device_id is not None and (
        marker is None or marker.get("cert") != certificate.serial or now - marker.get("seen", 0) > SEEN_EVERY_SECONDS
    )
    if same_otp_step and marker.get("key") == session.session_key and not seen_due:
        return  # the common case: nothing to write
    seen = marker.get("seen", 0) if marker else 0
    if seen_due:
        Device.objects.filter(pk=device_id).update(
            webmail_last_seen_at=timezone.now(), webmail_last_seen_ip=client_ip(request)
        )
        seen = now
    if same_otp_step and marker.get("key") == session.session_key:
        session[MARKER_KEY] = {**marker, "cert": certificate.serial, "seen": seen}
        return
    if same_otp_step:
        # The portal rotated the session key (e.g. a password change): follow it, so "end session" still works.
        WebmailSession.objects.filter(pk=marker["id"]).update(session_key=session.session_key)
    else:
        verified_at = datetime.fromtimestamp(session[OTP_VERIFIED_KEY], tz=UTC)
        # get_or_create: a browser opening webmail fires parallel first passes; one row, one audit event.
        row, created = WebmailSession.objects.get_or_create(
            session_key=session.session_key,
            defaults={
                "user_id": decision.user_id,
                "device_id": session[DEVICE_ID_SESSION_KEY],
                "otp_verified_at": verified_at,
                "ip_address": client_ip(request),
                "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
            },
        )
        if created:
            record(
                "gateway.first_pass",
                actor=User.objects.get(pk=decision.user_id),
                target=decision.facts["email"] if decision.facts else "",
                request=request,
                webmail_session=row.pk,
                # The path only: webmail query strings can carry tokens.
                webmail_path=request.META.get("HTTP_X_ORIGINAL_URI", "").split("?", 1)[0][:200],
            )
        marker = {"id": row.pk}
    session[MARKER_KEY] = {
        "id": marker["id"],
        "key": session.session_key,
        "otp": otp_step,
        "cert": certificate.serial,
        "seen": seen,
    }


def end_session(row: WebmailSession, by: User) -> bool:
    """End one webmail session now: delete the portal session behind it and record who ended it."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    store(session_key=row.session_key).delete()
    return row.mark_ended(WebmailSession.EndReason.ENDED_BY_STAFF, by=by)
