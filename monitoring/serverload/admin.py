"""Django admin for the server load and drift models (IT staff only; the portal's own pages come first).

Settings and approvals go through the portal's pages (validated and audited); the admin only shows rows.
"""

from __future__ import annotations

from django.contrib import admin

from monitoring.serverload.models import DriftBaseline, DriftCheck, DriftFinding, LoadAlert
from portal.admin import ReadOnlyAdmin


@admin.register(LoadAlert)
class LoadAlertAdmin(ReadOnlyAdmin):
    list_display = ["metric", "level", "above_since", "raised_at", "cleared_at", "peak"]
    list_filter = ["metric", "level"]


@admin.register(DriftBaseline)
class DriftBaselineAdmin(ReadOnlyAdmin):
    list_display = ["path", "kind", "sha256", "approved_at", "approved_by"]
    search_fields = ["path"]
    exclude = ["content"]  # configuration text can hold secrets


@admin.register(DriftCheck)
class DriftCheckAdmin(ReadOnlyAdmin):
    list_display = ["requested_at", "trigger", "status", "files_checked", "new_findings"]
    list_filter = ["trigger", "status"]


@admin.register(DriftFinding)
class DriftFindingAdmin(ReadOnlyAdmin):
    list_display = ["path", "kind", "found_at", "resolved_at", "resolution"]
    list_filter = ["kind", "resolution"]
    exclude = ["new_content", "diff"]
