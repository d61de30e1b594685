from __future__ import annotations

from django.urls import path

from monitoring.serverload import views

app_name = "serverload"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert"),
    path("settings/", views.load_settings, name="settings"),
    path("drift/", views.drift_overview, name="drift"),
    path("drift/check/", views.drift_check, name="drift_check"),
    path("drift/findings/<int:pk>/", views.drift_finding, name="drift_finding"),
    path("drift/findings/<int:pk>/approve/", views.drift_approve, name="drift_approve"),
    path("drift/findings/approve/", views.drift_approve_many, name="drift_approve_many"),
]
