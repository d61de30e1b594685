from __future__ import annotations

from django.contrib import admin

from portal.models import Heartbeat, OutboxMessage


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "last_seen"]
    readonly_fields = ["name", "last_seen"]


# Alert channels are not in the admin: their URLs hold tokens and are edited only on the channel page,
# which never shows them again. The outbox is read-only here (the "Outgoing messages" page retries).
@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "channel_name", "subject", "status", "attempts", "sent_at"]
    list_filter = ["kind", "status"]
    fields = [
        "key", "kind", "severity", "to", "channel_name", "subject", "status", "attempts", "last_error",
        "created_at", "next_attempt_at", "handed_over_at", "sent_at",
    ]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
