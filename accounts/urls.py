from __future__ import annotations

from django.urls import path

from accounts import app_password_views, device_staff_views, device_views, staff_views, views

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
    path("tokens/enrol/done/", views.enrol_done, name="otp_enrol_done"),
    path("tokens/<int:pk>/remove/", views.token_remove, name="otp_token_remove"),
    path("tokens/backup-codes/", views.backup_codes_show, name="otp_backup_codes"),
    path("tokens/backup-codes/download/", views.backup_codes_download, name="otp_backup_codes_download"),
    path("tokens/backup-codes/new/", views.backup_codes_regenerate, name="otp_backup_codes_regenerate"),
    # Own devices: laptops, phones, tablets; their app passwords (IMAP, POP3, SMTP) and company certificates.
    path("devices/", device_views.devices, name="devices"),
    path("devices/new/", device_views.device_create, name="device_create"),
    path("devices/<int:pk>/", device_views.device_detail, name="device_detail"),
    path("devices/<int:pk>/revoke/", device_views.device_revoke, name="device_revoke"),
    path("devices/<int:pk>/certificate/", device_views.certificate, name="device_certificate"),
    path("devices/<int:pk>/certificate/issue/", device_views.certificate_issue, name="device_certificate_issue"),
    path("devices/<int:pk>/certificate.p12", device_views.certificate_download, name="device_certificate_download"),
    path("devices/<int:pk>/profile.mobileconfig", device_views.device_profile, name="device_profile"),
    path("devices/<int:pk>/app-passwords/new/", app_password_views.app_password_create, name="app_password_create"),
    path("app-passwords/<int:pk>/setup/", app_password_views.app_password_setup, name="app_password_setup"),
    path("app-passwords/<int:pk>/revoke/", app_password_views.app_password_revoke, name="app_password_revoke"),
    # The devices CA: its public files (anonymous), IT staff's pages.
    path("devices/ca/certificates.pem", device_staff_views.ca_certificates, name="device_ca_certificates"),
    path("devices/ca/crl.pem", device_staff_views.ca_crls, name="device_ca_crls"),
    path("devices/ca/<int:pk>.crl", device_staff_views.ca_crl, name="device_ca_crl"),
    path("devices/ca/", device_staff_views.device_ca, name="device_ca"),
    path("devices/ca/rotate/", device_staff_views.device_ca_rotate, name="device_ca_rotate"),
    path("devices/ca/<int:pk>/retire/", device_staff_views.device_ca_retire, name="device_ca_retire"),
    path("devices/all/", device_staff_views.all_devices, name="all_devices"),
    path("devices/settings/", device_staff_views.device_settings, name="device_settings"),
    # IT staff.
    path("users/", staff_views.users, name="users"),
    path("users/new/", staff_views.user_create, name="user_create"),
    path("users/import/", staff_views.users_import, name="users_import"),
    path("users/<int:pk>/", staff_views.user_detail, name="user_detail"),
    path("users/<int:pk>/devices/new/", device_staff_views.user_device_create, name="user_device_create"),
    path("users/<int:pk>/reset-tokens/", staff_views.user_reset_tokens, name="user_reset_tokens"),
    path("users/<int:pk>/invite/", staff_views.user_invite, name="user_invite"),
    path(
        "users/<int:pk>/app-passwords/<int:password_pk>/revoke/",
        app_password_views.staff_revoke,
        name="user_app_password_revoke",
    ),
    path("users/<int:pk>/app-passwords/revoke/", app_password_views.staff_revoke_all, name="user_app_passwords_revoke"),
    path(
        "users/<int:pk>/app-passwords/reinstate/",
        app_password_views.staff_reinstate,
        name="user_app_passwords_reinstate",
    ),
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
