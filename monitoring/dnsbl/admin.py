"""Django admin for the monitoring models (IT staff only; the portal's own pages come first)."""

from __future__ import annotations

from django.contrib import admin

# --- DNS block lists -------------------------------------------------------------------------------
from monitoring.models.dnsbl import DnsblSweep, DnsblZone, ListingChange, MonitoredAddress


@admin.register(DnsblZone)
class DnsblZoneAdmin(admin.ModelAdmin):
    list_display = ["name", "zone", "kind", "ipv6", "enabled", "health", "health_checked_at"]
    list_filter = ["kind", "enabled", "health"]
    search_fields = ["name", "zone"]
    readonly_fields = ["health", "health_detail", "health_checked_at"]


@admin.register(MonitoredAddress)
class MonitoredAddressAdmin(admin.ModelAdmin):
    list_display = ["value", "kind", "label", "enabled"]
    readonly_fields = ["kind", "suggestions"]


@admin.register(DnsblSweep)
class DnsblSweepAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "state", "created_at", "finished_at", "done", "total", "alert_sent_at"]
    list_filter = ["kind", "state"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ListingChange)
class ListingChangeAdmin(admin.ModelAdmin):
    list_display = ["changed_at", "address", "zone_name", "previous", "current"]
    list_filter = ["current"]
    search_fields = ["address", "zone_name"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


# --- Server load and drift ---------------------------------------------------------------------------
# Settings and approvals go through the portal's pages (validated and audited); the admin only shows rows.
from monitoring.models.load import DriftBaseline, DriftCheck, DriftFinding, LoadAlert  # noqa: E402


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LoadAlert)
class LoadAlertAdmin(_ReadOnly):
    list_display = ["metric", "level", "above_since", "raised_at", "cleared_at", "peak", "raised_mail_sent_at"]
    list_filter = ["metric", "level"]


@admin.register(DriftBaseline)
class DriftBaselineAdmin(_ReadOnly):
    list_display = ["path", "kind", "sha256", "approved_at", "approved_by"]
    search_fields = ["path"]
    exclude = ["content"]  # configuration text can hold secrets


@admin.register(DriftCheck)
class DriftCheckAdmin(_ReadOnly):
    list_display = ["requested_at", "trigger", "status", "files_checked", "new_findings", "mail_sent_at"]
    list_filter = ["trigger", "status"]


@admin.register(DriftFinding)
class DriftFindingAdmin(_ReadOnly):
    list_display = ["path", "kind", "found_at", "resolved_at", "resolution"]
    list_filter = ["kind", "resolution"]
    exclude = ["new_content", "diff"]
