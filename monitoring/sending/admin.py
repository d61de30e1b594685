"""Django admin for the sending guard (IT staff only; the portal's own pages come first)."""

from __future__ import annotations

from django.contrib import admin

from monitoring.sending.models import (
    LimitOverride,
    PolicyRefusal,
    RelayAttempt,
    SenderAlias,
    SenderProfile,
    SendingHour,
    SendingSettings,
    SendingSuspension,
    SharedMailbox,
)
from portal.admin import ReadOnlyAdmin, SingletonAdmin


@admin.register(SendingSettings)
class SendingSettingsAdmin(SingletonAdmin):
    list_display = ["recipients_per_hour", "recipients_per_day", "messages_per_minute", "soft_mark_percent"]


@admin.register(LimitOverride)
class LimitOverrideAdmin(admin.ModelAdmin):
    list_display = ["__str__", "recipients_per_hour", "recipients_per_day", "messages_per_minute", "note"]


@admin.register(SenderAlias)
class SenderAliasAdmin(admin.ModelAdmin):
    list_display = ["address", "user", "note"]
    search_fields = ["address", "user__email"]
    raw_id_fields = ["user"]


@admin.register(SharedMailbox)
class SharedMailboxAdmin(admin.ModelAdmin):
    list_display = ["address", "name"]
    search_fields = ["address", "name"]
    filter_horizontal = ["members"]


@admin.register(SendingSuspension)
class SendingSuspensionAdmin(ReadOnlyAdmin):
    deletable = False  # evidence: lifted on the person's Sending page, with a reason
    list_display = ["user", "started_at", "reason", "lifted_at", "lifted_by"]


@admin.register(SendingHour)
class SendingHourAdmin(ReadOnlyAdmin):
    list_display = ["hour", "login", "messages", "recipients", "attempted", "deferred", "refused"]
    search_fields = ["login"]


@admin.register(PolicyRefusal)
class PolicyRefusalAdmin(ReadOnlyAdmin):
    list_display = ["last_at", "login", "kind", "detail", "client_address", "count"]
    list_filter = ["kind"]
    search_fields = ["login", "detail"]


@admin.register(RelayAttempt)
class RelayAttemptAdmin(ReadOnlyAdmin):
    list_display = ["hour", "client_address", "attempts", "last_sender", "last_recipient"]
    search_fields = ["client_address"]


@admin.register(SenderProfile)
class SenderProfileAdmin(ReadOnlyAdmin):
    list_display = ["user", "usual_hour", "active_hours", "computed_at"]
