"""Who may do what: the one place that maps roles to capabilities.

Views declare the capability they need with ``@requires("...")``; templates
read the same table through the ``can`` context variable. Adding a page means
choosing a capability here (and a row in the access matrix test).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse


class Role(models.TextChoices):
    EMPLOYEE = "employee", "Employee"
    EXECUTIVE = "executive", "Executive"
    IT_STAFF = "it_staff", "IT staff"


EVERYONE = frozenset(Role)

CAPABILITIES: dict[str, frozenset[str]] = {
    # Every signed-in user: own account, own tokens, policies addressed to them.
    "use_portal": EVERYONE,
    "manage_own_tokens": EVERYONE,
    "read_policies": EVERYONE,
    # Read-only summaries.
    "view_summary": frozenset({Role.EXECUTIVE, Role.IT_STAFF}),
    "view_monitoring": frozenset({Role.EXECUTIVE, Role.IT_STAFF}),
    # Administration.
    "manage_users": frozenset({Role.IT_STAFF}),
    "view_audit_log": frozenset({Role.IT_STAFF}),
    "manage_policies": frozenset({Role.IT_STAFF}),
    "manage_campaigns": frozenset({Role.IT_STAFF}),
    "manage_procedures": frozenset({Role.IT_STAFF}),
    "manage_monitoring": frozenset({Role.IT_STAFF}),
    # The outbox: outgoing messages and the alert channels.
    "manage_messages": frozenset({Role.IT_STAFF}),
    "use_admin": frozenset({Role.IT_STAFF}),
}


def role_can(role: str | None, capability: str) -> bool:
    if capability not in CAPABILITIES:
        raise KeyError(f"unknown capability {capability!r}")
    return role in CAPABILITIES[capability]


def user_can(user: Any, capability: str) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return role_can(user.role, capability)


def capabilities_for(user: Any) -> dict[str, bool]:
    return {name: user_can(user, name) for name in CAPABILITIES}


def requires(capability: str) -> Callable:
    """Decorate a view: anonymous users go to the login page, others without the capability get 403."""
    if capability not in CAPABILITIES:
        raise KeyError(f"unknown capability {capability!r}")

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if not user_can(request.user, capability):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.required_capability = capability  # type: ignore[attr-defined]
        return wrapper

    return decorator


class CapabilityRequiredMixin:
    """The same rule for class-based views: set ``capability``."""

    capability: str = ""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return requires(self.capability)(super().dispatch)(request, *args, **kwargs)  # type: ignore[misc]
