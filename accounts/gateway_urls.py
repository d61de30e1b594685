"""The webmail gateway (included at /gateway/): nginx's auth_request endpoint and webmail sessions."""

from __future__ import annotations

from django.urls import path

from accounts import gateway_views

urlpatterns = [
    path("auth", gateway_views.auth_view, name="gateway_auth"),
    path("signin", gateway_views.signin_view, name="gateway_signin"),
    path("sessions/", gateway_views.sessions_view, name="gateway_sessions"),
    path("users/<int:user_id>/sessions/", gateway_views.user_sessions_view, name="gateway_user_sessions"),
    path("sessions/<int:pk>/end", gateway_views.end_session_view, name="gateway_session_end"),
]
