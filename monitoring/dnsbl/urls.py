from __future__ import annotations

from django.urls import path

from monitoring import dnsbl_views as views

urlpatterns = [
    path("", views.dashboard, name="dnsbl"),
    path("addresses/<int:pk>/history", views.address_history, name="dnsbl-address"),
    path("sweep", views.sweep_now, name="dnsbl-sweep-now"),
    path("sweeps/<int:pk>/status.json", views.sweep_status, name="dnsbl-sweep-status"),
    path("schedule", views.schedule, name="dnsbl-schedule"),
    path("zones/", views.zones, name="dnsbl-zones"),
    path("zones/new", views.zone_edit, name="dnsbl-zone-add"),
    path("zones/<int:pk>/", views.zone_edit, name="dnsbl-zone-edit"),
    path("addresses/", views.addresses, name="dnsbl-addresses"),
    path("addresses/<int:pk>/toggle", views.address_toggle, name="dnsbl-address-toggle"),
    path("check/", views.check_new, name="dnsbl-check"),
    path("check/<int:pk>/", views.check_result, name="dnsbl-check-result"),
]
