from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django_otp.admin import OTPAdminSite
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import audit
from accounts.models import (
    AuditEvent,
    BackupCodeDevice,
    Department,
    Invitation,
    OrganisationSettings,
    User,
)
from accounts.roles import user_can
from portal.admin import ReadOnlyAdmin, SingletonAdmin


class PortalAdminSite(OTPAdminSite):
    """django-otp's admin site (OTP-verified sessions only), further limited to IT staff.

    Signing in happens on the portal's own pages (password, then OTP); the admin has no login form.
    ``portal/urls.py`` switches ``admin.site`` to this class.
    """

    site_header = "Security portal administration"

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and user_can(request.user, "use_admin")

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if request.user.is_authenticated:
            # Signed in but not IT staff (or not verified, which the OTP middleware handles first).
            raise PermissionDenied
        return redirect_to_login(request.GET.get("next") or reverse("admin:index"))


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "role", "department", "is_active", "last_login"]
    list_filter = ["role", "department", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Person", {"fields": ["first_name", "last_name", "role", "department"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "role", "department", "password1", "password2"]})]

    def save_model(self, request, obj, form, change) -> None:
        old_role = User.objects.filter(pk=obj.pk).values_list("role", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        if change and old_role != obj.role:
            audit.record(
                "user.role_changed", request=request, target=obj.email, old=old_role, new=obj.role, via="admin"
            )
        if change and "is_active" in form.changed_data:
            action = "user.activated" if obj.is_active else "user.deactivated"
            audit.record(action, request=request, target=obj.email, via="admin")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_email", "action", "target", "ip_address"]
    list_filter = ["action"]
    search_fields = ["actor_email", "action", "target"]
    deletable = False


# Tokens: no secrets on screen (OTP_ADMIN_HIDE_SENSITIVE_DATA hides the key of saved tokens) and no
# adding through the admin, where the new key would be shown; people enrol in the portal.
admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class PortalTOTPDeviceAdmin(TOTPDeviceAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "drift"]


@admin.register(BackupCodeDevice)
class BackupCodeDeviceAdmin(ReadOnlyAdmin):
    list_display = ["user", "name", "created_at", "last_used_at", "remaining"]
    fields = ["user", "name", "created_at", "last_used_at", "throttling_failure_count"]
    search_fields = ["user__email"]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ["user", "created_at", "expires_at", "accepted_at", "revoked_at", "created_by"]
    fields = ["user", "created_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    search_fields = ["user__email"]


@admin.register(OrganisationSettings)
class OrganisationSettingsAdmin(SingletonAdmin):
    list_display = ["__str__", "otp_required", "grace_period_days", "hard_lock_after", "updated_at"]
