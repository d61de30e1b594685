from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from accounts import app_password_views, captcha_pictures
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
    path("monitoring/sending/", include("monitoring.sending.urls")),
    path("messages/", include("portal.message_urls")),
    # Before the package's own URLs: a new picture for anonymous visitors is limited per network.
    # The package's own "captcha-refresh" (which its widget reverses) is the same path, so it comes here too.
    path("captcha/refresh/", captcha_pictures.refresh, name="captcha_refresh"),
    path("captcha/", include("captcha.urls")),
    path("admin/", admin.site.urls),
    # Thunderbird's autoconfig for the organisation's mail domains (docs/mail-clients.md).
    path(".well-known/autoconfig/mail/config-v1.1.xml", app_password_views.autoconfig, name="autoconfig_well_known"),
    path("mail/config-v1.1.xml", app_password_views.autoconfig, name="autoconfig"),
]

handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
