from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from accounts.roles import capabilities_for


def portal(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {
        "organisation_name": settings.ORGANISATION_NAME,
        "can": capabilities_for(user),
    }
