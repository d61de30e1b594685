from __future__ import annotations

from django.urls import include, path

app_name = "monitoring"

urlpatterns = [
    path("dnsbl/", include("monitoring.dnsbl_urls")),
    path("load/", include("monitoring.load_urls")),
]
