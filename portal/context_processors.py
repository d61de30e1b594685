from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from accounts.roles import capabilities_for
from portal.navigation import current_view, menu_for


def portal(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    can = capabilities_for(user)
    authenticated = user is not None and user.is_authenticated
    return {
        "organisation_name": settings.ORGANISATION_NAME,
        "can": can,
        "menu": menu_for(current_view(request), can) if authenticated else None,
    }
