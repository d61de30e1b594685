from __future__ import annotations

from django.urls import path

from accounts import device_views, staff_views, views

urlpatterns = [
    # Sign-in: password, then OTP.
    path("login/", views.login_view, name="login"),
    path("login/code/", views.otp_verify, name="otp_verify"),
    path("logout/", views.logout_view, name="logout"),
    path("confirm-password/", views.reauth, name="reauth"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("password-reset/done/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("invitation/<str:token>/", views.invitation_accept, name="invitation_accept"),
    # Own tokens and backup codes.
    path("tokens/", views.tokens, name="otp_tokens"),
    path("tokens/enrol/", views.enrol, name="otp_enrol"),
    path("tokens/enrol/scan/", views.enrol_scan, name="otp_enrol_scan"),
    path("tokens/enrol/confirm/", views.enrol_confirm, name="otp_enrol_confirm"),
    path("tokens/<int:pk>/remove/", views.token_remove, name="otp_token_remove"),
    path("tokens/backup-codes/", views.backup_codes_show, name="otp_backup_codes"),
    path("tokens/backup-codes/download/", views.backup_codes_download, name="otp_backup_codes_download"),
    path("tokens/backup-codes/new/", views.backup_codes_regenerate, name="otp_backup_codes_regenerate"),
    # Mail on own devices: app passwords for IMAP, POP3 and SMTP.
    path("devices/", device_views.devices, name="devices"),
    path("devices/new/", device_views.device_create, name="device_create"),
    path("devices/<int:pk>/setup/", device_views.device_setup, name="device_setup"),
    path("devices/<int:pk>/profile.mobileconfig", device_views.device_profile, name="device_profile"),
    path("devices/<int:pk>/revoke/", device_views.device_revoke, name="device_revoke"),
    # IT staff.
    path("users/", staff_views.users, name="users"),
    path("users/new/", staff_views.user_create, name="user_create"),
    path("users/import/", staff_views.users_import, name="users_import"),
    path("users/<int:pk>/", staff_views.user_detail, name="user_detail"),
    path("users/<int:pk>/reset-tokens/", staff_views.user_reset_tokens, name="user_reset_tokens"),
    path("users/<int:pk>/invite/", staff_views.user_invite, name="user_invite"),
    path(
        "users/<int:pk>/app-passwords/<int:password_pk>/revoke/",
        device_views.staff_revoke,
        name="user_app_password_revoke",
    ),
    path("users/<int:pk>/app-passwords/revoke/", device_views.staff_revoke_all, name="user_app_passwords_revoke"),
    path("users/<int:pk>/app-passwords/reinstate/", device_views.staff_reinstate, name="user_app_passwords_reinstate"),
    path("invitations/", staff_views.invitation_list, name="invitations"),
    path("invitations/<int:pk>/revoke/", staff_views.invitation_revoke, name="invitation_revoke"),
    path("coverage/", staff_views.coverage, name="otp_coverage"),
    path("coverage.csv", staff_views.coverage_csv, name="otp_coverage_csv"),
    path("lockouts/", staff_views.lockouts, name="lockouts"),
    path("lockouts/lift/", staff_views.lockout_lift, name="lockout_lift"),
    path("settings/", staff_views.sign_in_settings, name="sign_in_settings"),
    path("audit/", staff_views.audit_log, name="audit_log"),
    path("audit.csv", staff_views.audit_log_csv, name="audit_log_csv"),
]
