from __future__ import annotations

from django.urls import path

from monitoring import load_views as views

urlpatterns = [
    path("", views.dashboard, name="load-dashboard"),
    path("alerts/", views.alert_list, name="load-alerts"),
    path("alerts/<int:pk>/", views.alert_detail, name="load-alert"),
    path("settings/", views.load_settings, name="load-settings"),
    path("drift/", views.drift_overview, name="drift"),
    path("drift/check/", views.drift_check, name="drift-check"),
    path("drift/findings/<int:pk>/", views.drift_finding, name="drift-finding"),
    path("drift/findings/<int:pk>/approve/", views.drift_approve, name="drift-approve"),
]
