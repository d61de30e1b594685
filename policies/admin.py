from __future__ import annotations

from django.contrib import admin

from policies.models import (
    Acknowledgement,
    Campaign,
    CampaignRun,
    Delivery,
    Policy,
    PolicySettings,
    PolicyVersion,
    Procedure,
    ProcedureCompletion,
    ProcedureStep,
)
from portal.admin import ReadOnlyAdmin, ReadOnlyAdminMixin, SingletonAdmin


@admin.register(PolicySettings)
class PolicySettingsAdmin(SingletonAdmin):
    list_display = ["__str__", "send_max_tries", "retry_backoff_seconds", "next_digest_at"]


class EvidenceAdmin(ReadOnlyAdmin):
    """Records of what happened: visible, never edited or deleted here."""

    deletable = False


class VersionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PolicyVersion
    fields = ["number", "published_at", "published_by", "requires_acknowledgement", "note"]
    readonly_fields = fields
    extra = 0
    deletable = False


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ["title", "state", "category", "owner", "review_due_on"]
    list_filter = ["state", "category"]
    search_fields = ["title"]
    readonly_fields = ["current_version", "acknowledge_from_version", "state", "has_draft_changes"]
    inlines = [VersionInline]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        # The text changes through the portal's edit/publish pages, which keep versions and drafts straight.
        if obj is not None and obj.current_version_id:
            return [*self.readonly_fields, "title", "summary", "body"]
        return self.readonly_fields


@admin.register(Acknowledgement)
class AcknowledgementAdmin(EvidenceAdmin):
    list_display = ["user", "policy", "version_number", "acknowledged_at", "ip_address"]
    list_filter = ["policy"]
    search_fields = ["user__email"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "repeat", "interval", "active", "next_run_at"]
    readonly_fields = ["next_run_at", "last_run_at"]


@admin.register(CampaignRun)
class CampaignRunAdmin(EvidenceAdmin):
    list_display = ["campaign", "occurrence", "manual", "fanned_out_at", "recipient_count"]


@admin.register(Delivery)
class DeliveryAdmin(EvidenceAdmin):
    list_display = ["campaign", "recipient", "occurrence", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "campaign"]


class StepInline(admin.TabularInline):
    model = ProcedureStep
    extra = 0


@admin.register(Procedure)
class ProcedureAdmin(admin.ModelAdmin):
    list_display = ["title", "interval_days", "owner", "next_due_on", "active"]
    inlines = [StepInline]


@admin.register(ProcedureCompletion)
class ProcedureCompletionAdmin(EvidenceAdmin):
    list_display = ["procedure", "completed_by", "completed_at"]
