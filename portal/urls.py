from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from accounts.admin import PortalAdminSite
from portal import views

# The Django admin only for IT staff whose session passed the OTP step (django-otp's OTPAdminSite).
admin.site.__class__ = PortalAdminSite

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("gateway/", include("accounts.gateway_urls")),
    path("policies/", include("policies.urls")),
    path("monitoring/dnsbl/", include("monitoring.dnsbl.urls")),
    path("monitoring/load/", include("monitoring.serverload.urls")),
    path("messages/", include("portal.message_urls")),
    path("captcha/", include("captcha.urls")),
    path("admin/", admin.site.urls),
]

handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
