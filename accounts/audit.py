"""Write to the audit log. Every app records its events through ``record``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.http import HttpRequest

from accounts.models import AuditEvent


def client_ip(request: HttpRequest | None) -> str | None:
    """The browser's address: behind nginx (a peer in ``TRUSTED_PROXIES``) the last X-Forwarded-For entry.

    gunicorn's REMOTE_ADDR is nginx itself; without this every sign-in failure would count against
    one address and lock everyone out. nginx's ``$proxy_add_x_forwarded_for`` appends the peer it saw,
    so only the last entry is trusted (earlier ones are whatever the browser sent).
    """
    if request is None:
        return None
    peer = request.META.get("REMOTE_ADDR") or None
    if peer in settings.TRUSTED_PROXIES:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        try:
            validate_ipv46_address(forwarded)
        except ValidationError:
            return peer
        return forwarded
    return peer


def user_agent(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return request.META.get("HTTP_USER_AGENT", "")[:300]


def record(
    action: str,
    *,
    actor: Any = None,
    target: Any = "",
    request: HttpRequest | None = None,
    ip: str | None = None,
    **details: Any,
) -> AuditEvent:
    """Record ``action`` (e.g. "login.success", "otp.reuse", "policy.published").

    ``actor`` defaults to the request's signed-in user. ``ip`` is the client's address when there is
    no request (the mail login verifier). ``details`` must be JSON-serialisable and must never
    contain secrets (codes, passwords, keys).
    """
    if actor is None and request is not None and getattr(request, "user", None) is not None:
        actor = request.user if request.user.is_authenticated else None
    return AuditEvent.objects.create(
        actor=actor,
        actor_email=getattr(actor, "email", "") or "",
        action=action,
        target=str(target)[:300],
        ip_address=client_ip(request) if request is not None else ip,
        user_agent=user_agent(request),
        details=details,
    )
