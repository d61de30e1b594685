"""The Django admin: django-otp's admin site, IT staff with an OTP-verified session only, no token secrets."""

from __future__ import annotations

from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import backup_codes


def test_it_staff_with_a_verified_session_get_in(client, login, it_staff):
    login(client, it_staff)
    assert client.get(reverse("admin:index")).status_code == 200
    # The role decides, not Django's permission tables: IT staff see every model.
    assert client.get(reverse("admin:accounts_user_changelist")).status_code == 200


def test_a_role_change_in_the_admin_is_audited(client, login, it_staff, employee):
    from accounts.models import AuditEvent

    login(client, it_staff)
    url = reverse("admin:accounts_user_change", args=[employee.pk])
    data = {"email": employee.email, "role": "executive", "is_active": "on", "date_joined_0": "2026-01-01",
            "date_joined_1": "09:00:00"}  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = AuditEvent.objects.get(action="user.role_changed")
    assert event.details == {"old": "employee", "new": "executive", "via": "admin"}


def test_a_password_only_session_does_not_get_in(client, it_staff):
    TOTPDevice.objects.create(user=it_staff, name="Phone", confirmed=True)
    client.force_login(it_staff)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("otp_verify"))


def test_staff_flag_without_the_it_role_does_not_get_in(client, login, employee):
    employee.is_staff = True
    employee.save()
    login(client, employee)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 403


def test_anonymous_visitors_are_sent_to_the_portal_sign_in(client, db):
    response = client.get(reverse("admin:index"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("login"))


def test_token_secrets_are_not_shown(client, login, it_staff, employee):
    login(client, it_staff)
    device = TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)
    codes = backup_codes.regenerate(employee)
    change = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk])).content.decode()
    assert device.key not in change and 'name="key"' not in change
    listing = client.get(reverse("admin:otp_totp_totpdevice_changelist")).content.decode()
    assert device.key not in listing and "qrcode" not in listing.lower()
    assert client.get(reverse("admin:otp_totp_totpdevice_add")).status_code == 403
    backup_page = client.get(reverse("admin:accounts_backupcodedevice_changelist")).content.decode()
    assert "pbkdf2" not in backup_page and not any(code in backup_page for code in codes)


def test_deactivating_in_the_admin_is_audited_like_on_the_user_page(client, login, it_staff, employee):
    from accounts.models import AuditEvent

    login(client, it_staff)
    url = reverse("admin:accounts_user_change", args=[employee.pk])
    data = {"email": employee.email, "role": "employee", "date_joined_0": "2026-01-01", "date_joined_1": "09:00:00"}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = AuditEvent.objects.get(action="user.deactivated")
    assert (event.actor, event.target, event.details) == (it_staff, employee.email, {"via": "admin"})
    assert not AuditEvent.objects.filter(action="user.role_changed").exists()


def test_app_passwords_show_in_the_admin_without_their_hash(client, login, it_staff, employee):
    from accounts import app_passwords

    created = app_passwords.create(employee, name="Laptop", can_read=True, can_send=True).password
    login(client, it_staff)
    listing = client.get(reverse("admin:accounts_apppassword_changelist"))
    assert listing.status_code == 200 and "Laptop" in listing.content.decode()
    detail = client.get(reverse("admin:accounts_apppassword_change", args=[created.pk])).content.decode()
    assert created.digest not in detail and created.salt not in detail
    assert client.get(reverse("admin:accounts_apppassword_add")).status_code == 403
    assert client.get(reverse("admin:accounts_mailloginsummary_changelist")).status_code == 200
