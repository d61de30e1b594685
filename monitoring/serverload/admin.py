"""Django admin for the server load and drift models (IT staff only; the portal's own pages come first).

Settings and approvals go through the portal's pages (validated and audited); the admin only shows rows.
"""

from __future__ import annotations

from django.contrib import admin

from monitoring.serverload.models import DriftBaseline, DriftCheck, DriftFinding, LoadAlert


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LoadAlert)
class LoadAlertAdmin(_ReadOnly):
    list_display = ["metric", "level", "above_since", "raised_at", "cleared_at", "peak"]
    list_filter = ["metric", "level"]


@admin.register(DriftBaseline)
class DriftBaselineAdmin(_ReadOnly):
    list_display = ["path", "kind", "sha256", "approved_at", "approved_by"]
    search_fields = ["path"]
    exclude = ["content"]  # configuration text can hold secrets


@admin.register(DriftCheck)
class DriftCheckAdmin(_ReadOnly):
    list_display = ["requested_at", "trigger", "status", "files_checked", "new_findings"]
    list_filter = ["trigger", "status"]


@admin.register(DriftFinding)
class DriftFindingAdmin(_ReadOnly):
    list_display = ["path", "kind", "found_at", "resolved_at", "resolution"]
    list_filter = ["kind", "resolution"]
    exclude = ["new_content", "diff"]
