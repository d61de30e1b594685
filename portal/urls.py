from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from accounts import device_views
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
    # Thunderbird's autoconfig for the organisation's mail domains (docs/mail-clients.md).
    path(".well-known/autoconfig/mail/config-v1.1.xml", device_views.autoconfig, name="autoconfig_well_known"),
    path("mail/config-v1.1.xml", device_views.autoconfig, name="autoconfig"),
]

handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
