from __future__ import annotations

from django.urls import path

from monitoring.dnsbl import views

app_name = "dnsbl"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("addresses/<int:pk>/history", views.address_history, name="address_history"),
    path("sweep", views.sweep_now, name="sweep_now"),
    path("sweeps/<int:pk>/status.json", views.sweep_status, name="sweep_status"),
    path("schedule", views.schedule, name="schedule"),
    path("zones/", views.zones, name="zones"),
    path("zones/new", views.zone_edit, name="zone_add"),
    path("zones/<int:pk>/", views.zone_edit, name="zone_edit"),
    path("addresses/", views.addresses, name="addresses"),
    path("addresses/<int:pk>/toggle", views.address_toggle, name="address_toggle"),
    path("check/", views.check_new, name="check"),
    path("check/<int:pk>/", views.check_result, name="check_result"),
]
