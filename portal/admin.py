"""The admin's two shared shapes (read-only records, one-row settings) and the outbox's own admin."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from portal.models import Heartbeat, OutboxMessage


class ReadOnlyAdminMixin:
    """Rows that record what happened (or what a job keeps): the admin shows them and never adds or edits one.

    Deleting follows Django's permissions unless ``deletable = False``: records that are evidence (the audit
    log, acknowledgements, campaign runs) are never deleted here either.
    """

    deletable = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.deletable and super().has_delete_permission(request, obj)


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


class SingletonAdmin(admin.ModelAdmin):
    """A ``portal.singletons.Singleton``: its one row is edited, never added twice or deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not self.model.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_seen"]


# Alert channels are not in the admin: their URLs hold tokens and are edited only on the channel page,
# which never shows them again. The outbox is read-only here (the "Outgoing messages" page retries).
@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "channel_name", "subject", "status", "attempts", "sent_at"]
    list_filter = ["kind", "status"]
    fields = [
        "key", "kind", "severity", "to", "channel_name", "subject", "status", "attempts", "last_error",
        "created_at", "next_attempt_at", "handed_over_at", "sent_at",
    ]  # fmt: skip
