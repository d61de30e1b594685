"""Django admin for the DNS block list models (IT staff only; the portal's own pages come first)."""

from __future__ import annotations

from django.contrib import admin

from monitoring.dnsbl.models import DnsblSweep, DnsblZone, ListingChange, MonitoredAddress
from portal.admin import ReadOnlyAdmin


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
class DnsblSweepAdmin(ReadOnlyAdmin):
    list_display = ["pk", "kind", "state", "created_at", "finished_at", "done", "total"]
    list_filter = ["kind", "state"]


@admin.register(ListingChange)
class ListingChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "address", "zone_name", "previous", "current"]
    list_filter = ["current"]
    search_fields = ["address", "zone_name"]
