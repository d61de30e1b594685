"""The monitoring part of the home page: one card per status line of the registry (``monitoring.status``)."""

from __future__ import annotations

from django.http import HttpRequest

from monitoring.status import status_lines


def home_context(request: HttpRequest) -> dict:
    if not request.user.can("view_monitoring"):
        return {}
    # IT staff read the technical sentence; executives the plain one (is mail at risk, what IT is doing).
    return {"lines": status_lines(), "technical": request.user.can("manage_monitoring")}
