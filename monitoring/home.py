"""The monitoring part of the home page."""

from __future__ import annotations

from django.http import HttpRequest


def home_context(request: HttpRequest) -> dict:
    ctx: dict = {}
    # --- DNS block lists
    if request.user.can("view_monitoring"):
        from monitoring.dnsbl_report import status_line

        ctx["dnsbl"] = status_line()
    # --- Server load and configuration drift
    if request.user.can("view_monitoring"):
        from monitoring import alerts, drift

        ctx["load_lines"] = [alerts.status_line(), drift.status_line()]
    return ctx
