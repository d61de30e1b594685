"""Write to the audit log. Every app records its events through ``record``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.client_address import client_ip
from accounts.models import AuditEvent

__all__ = ["client_ip", "record", "user_agent"]


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
    **details: Any,
) -> AuditEvent:
    """Record ``action`` (e.g. "login.success", "otp.reuse", "policy.published").

    ``actor`` defaults to the request's signed-in user. ``details`` must be
    JSON-serialisable and must never contain secrets (codes, passwords, keys).
    """
    if actor is None and request is not None and getattr(request, "user", None) is not None:
        actor = request.user if request.user.is_authenticated else None
    return AuditEvent.objects.create(
        actor=actor,
        actor_email=getattr(actor, "email", "") or "",
        action=action,
        target=str(target)[:300],
        ip_address=client_ip(request),
        user_agent=user_agent(request),
        details=details,
    )
