"""App passwords of a device: create one (OTP step + password again), see it once with the settings, the
device's Apple profile, revoke; IT staff revoke; Thunderbird autoconfig; coverage and settings pages."""

from __future__ import annotations

import plistlib
import time
from xml.etree import ElementTree as ET

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from accounts import app_passwords
from accounts.mailauth import passwords
from accounts.models import (
    AppPassword,
    AuditEvent,
    Device,
    MailAuthState,
    MailLoginSummary,
    OrganisationSettings,
    User,
)


def xml(content: bytes) -> ET.Element:
    return ET.fromstring(content)  # noqa: S314 - the portal's own answer, not untrusted input


def device_of(user, name="Laptop") -> Device:
    return Device.objects.get_or_create(user=user, name=name, defaults={"kind": "laptop"})[0]


def make(client, name="Outlook on laptop", access="read_send", device=None):
    device = device or device_of(User.objects.get(pk=client.session[SESSION_KEY]))  # the signed-in person's
    return client.post(reverse("app_password_create", kwargs={"pk": device.pk}), {"name": name, "access": access})


def test_creating_shows_the_secret_once_with_the_settings(client, login, employee):
    login(client, employee)
    response = make(client)
    row = AppPassword.objects.get(user=employee)
    assert response["Location"] == reverse("app_password_setup", kwargs={"pk": row.pk})
    assert row.device == device_of(employee)
    page = client.get(response["Location"]).content.decode()
    secret = page.split('id="app-password">', 1)[1].split("<", 1)[0]
    assert passwords.matches(bytes.fromhex(row.salt), bytes.fromhex(row.digest), passwords.normalise(secret))
    assert "mail.example.com" in page and "993" in page and "587" in page and "465" in page
    assert "Why not port 25?" in page

    client.post(reverse("app_password_setup", kwargs={"pk": row.pk}))  # "I have entered it"
    again = client.get(reverse("app_password_setup", kwargs={"pk": row.pk})).content.decode()
    assert secret not in again and "shown only right after it is made" in again


def test_the_secret_is_forgotten_after_a_quarter_of_an_hour(client, login, employee, monkeypatch):
    login(client, employee)
    make(client)
    row = AppPassword.objects.get(user=employee)
    later = time.time() + 901
    monkeypatch.setattr(time, "time", lambda: later)
    page = client.get(reverse("app_password_setup", kwargs={"pk": row.pk})).content.decode()
    assert 'id="app-password"' not in page


def test_creating_needs_the_password_again_and_the_otp_step(client, login, employee):
    login(client, employee)
    session = client.session
    session["password_verified_at"] = int(time.time()) - 3600
    session.save()
    url = reverse("app_password_create", kwargs={"pk": device_of(employee).pk})
    response = client.get(url)
    assert response["Location"].startswith(reverse("reauth"))
    assert f"next={url.replace('/', '%2F')}" in response["Location"]
    assert make(client)["Location"].startswith(reverse("reauth"))
    assert not AppPassword.objects.exists()


def test_a_person_without_the_otp_step_cannot_create_one(client, employee):
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"otp_required": False})
    client.force_login(employee)
    response = client.get(reverse("app_password_create", kwargs={"pk": device_of(employee).pk}))
    assert response["Location"] == reverse("otp_tokens")


def test_names_are_unique_and_the_limit_is_explained(client, login, employee):
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"app_passwords_per_user": 1})
    login(client, employee)
    make(client, "Phone")
    assert "already have an app password with this name" in make(client, " phone ").content.decode()
    assert "the most allowed" in make(client, "Tablet").content.decode()
    assert AppPassword.objects.count() == 1


def test_the_access_choice_sets_the_scopes(client, login, employee):
    login(client, employee)
    make(client, "Scanner", "send")
    make(client, "Reader", "read")
    scopes = dict(AppPassword.objects.values_list("name", "can_read"))
    assert scopes == {"Scanner": False, "Reader": True}
    assert not AppPassword.objects.get(name="Reader").can_send


def test_the_apple_profile_carries_the_password_in_the_first_download_only(client, login, employee):
    login(client, employee)
    iphone = device_of(employee, "iPhone")
    make(client, "iPhone Mail", device=iphone)
    row = AppPassword.objects.get(user=employee)
    page = client.get(reverse("app_password_setup", kwargs={"pk": row.pk})).content.decode()
    secret = page.split('id="app-password">', 1)[1].split("<", 1)[0]

    first = client.get(reverse("device_profile", kwargs={"pk": iphone.pk}))
    assert first["Content-Type"] == "application/x-apple-aspen-config"
    profile = plistlib.loads(first.content)
    assert (profile["PayloadType"], profile["PayloadVersion"]) == ("Configuration", 1)
    (account,) = profile["PayloadContent"]
    assert account["PayloadType"] == "com.apple.mail.managed"
    assert account["EmailAccountType"] == "EmailTypeIMAP"
    assert (account["IncomingMailServerHostName"], account["IncomingMailServerPortNumber"]) == ("mail.example.com", 993)
    assert (account["OutgoingMailServerPortNumber"], account["OutgoingMailServerUseSSL"]) == (587, True)
    assert account["IncomingMailServerUsername"] == employee.email
    assert account["IncomingPassword"] == account["OutgoingPassword"] == secret
    for payload in (profile, account):
        assert payload["PayloadIdentifier"] and len(payload["PayloadUUID"]) == 36

    second = plistlib.loads(client.get(reverse("device_profile", kwargs={"pk": iphone.pk})).content)
    assert "IncomingPassword" not in second["PayloadContent"][0]
    assert second["PayloadUUID"] == profile["PayloadUUID"]  # installing again replaces the account
    events = AuditEvent.objects.filter(action="device.profile_downloaded").order_by("pk")
    assert [e.details["with_password"] for e in events] == [True, False]


def test_no_profile_for_a_send_only_or_revoked_password(client, login, employee):
    login(client, employee)
    make(client, "Scanner", "send")
    assert client.get(reverse("device_profile", kwargs={"pk": device_of(employee).pk})).status_code == 404


def test_a_person_revokes_their_own_and_sees_it_listed(client, login, employee):
    login(client, employee)
    make(client, "Old phone")
    row = AppPassword.objects.get(user=employee)
    client.post(reverse("app_password_revoke", kwargs={"pk": row.pk}))
    row.refresh_from_db()
    assert (row.state, row.revoked_reason, row.revoked_by) == ("revoked", "owner", employee)
    page = client.get(reverse("device_detail", kwargs={"pk": row.device_id})).content.decode()
    assert "Revoked" in page and "Old phone" in page
    assert client.get(reverse("device_profile", kwargs={"pk": row.device_id})).status_code == 404


def test_the_devices_page_says_when_mailbox_passwords_stop(client, login, employee):
    from datetime import timedelta

    from django.utils import timezone

    login(client, employee)
    until = timezone.localdate() + timedelta(days=10)
    OrganisationSettings.objects.update_or_create(
        pk=1, defaults={"mailbox_passwords": "until", "mailbox_passwords_until": until}
    )
    assert "still accept your mailbox password until" in client.get(reverse("devices")).content.decode()
    OrganisationSettings.objects.update_or_create(
        pk=1, defaults={"mailbox_passwords_until": timezone.localdate() - timedelta(days=1)}
    )
    assert "accept only app passwords" in client.get(reverse("devices")).content.decode()


def test_it_staff_see_counts_and_revoke_one_or_all(client, login, it_staff, employee):
    laptop = app_passwords.create(employee, name="Laptop", can_read=True, can_send=True).password
    app_passwords.create(employee, name="Phone", can_read=True, can_send=False)
    MailLoginSummary.objects.create(user=employee, refused=4, refused_last_ip="192.0.2.9", refused_last_reason="x")
    login(client, it_staff)
    page = client.get(reverse("user_detail", kwargs={"pk": employee.pk})).content.decode()
    assert "2 made: 2 active, 0 suspended, 0 revoked" in page and "4, the last" in page and "192.0.2.9" in page

    client.post(reverse("user_app_password_revoke", kwargs={"pk": employee.pk, "password_pk": laptop.pk}))
    laptop.refresh_from_db()
    assert (laptop.state, laptop.revoked_reason, laptop.revoked_by) == ("revoked", "it_staff", it_staff)
    client.post(reverse("user_app_passwords_revoke", kwargs={"pk": employee.pk}))
    assert not AppPassword.objects.usable().exists()
    wrong_person = reverse("user_app_password_revoke", kwargs={"pk": it_staff.pk, "password_pk": laptop.pk})
    assert client.post(wrong_person).status_code == 404


def test_thunderbird_autoconfig_names_the_servers_for_our_domains(client, employee, settings):
    settings.MAIL_SERVER = "imap.example.com"
    for url in (reverse("autoconfig"), reverse("autoconfig_well_known")):
        response = client.get(url, {"emailaddress": "someone@Example.com"})
        assert response["Content-Type"] == "application/xml; charset=utf-8"
        root = xml(response.content)
        assert (root.tag, root.get("version")) == ("clientConfig", "1.1")
        provider = root.find("emailProvider")
        assert provider.get("id") == provider.findtext("domain") == "example.com"
        servers = {(s.get("type"), s.findtext("port"), s.findtext("socketType")) for s in provider}
        assert {
            ("imap", "993", "SSL"),
            ("pop3", "995", "SSL"),
            ("smtp", "587", "STARTTLS"),
            ("smtp", "465", "SSL"),
        } <= servers
        imap = provider.find("incomingServer[@type='imap']")
        assert imap.findtext("hostname") == "imap.example.com"
        assert imap.findtext("username") == "%EMAILADDRESS%"
        assert imap.findtext("authentication") == "password-cleartext"
    assert client.get(reverse("autoconfig"), {"emailaddress": "x@elsewhere.test"}).status_code == 404
    assert client.get(reverse("autoconfig")).status_code == 404
    # Thunderbird's first try: http://autoconfig.<domain>/mail/config-v1.1.xml (the portal serves that host too).
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "autoconfig.example.com"]
    by_host = client.get(reverse("autoconfig"), HTTP_HOST="autoconfig.example.com")
    assert xml(by_host.content).find("emailProvider").get("id") == "example.com"


def test_autoconfig_with_local_part_user_names(client, employee, settings):
    settings.MAIL_USERNAME = "localpart"
    root = xml(client.get(reverse("autoconfig"), {"emailaddress": "a@example.com"}).content)
    assert root.find("emailProvider/incomingServer").findtext("username") == "%EMAILLOCALPART%"


def test_the_coverage_page_lists_who_still_uses_the_mailbox_password(client, login, it_staff, employee):
    from django.utils import timezone

    MailLoginSummary.objects.create(
        user=employee, mailbox_password_last_used_at=timezone.now(), mailbox_password_last_service="imap"
    )
    login(client, it_staff)
    page = client.get(reverse("otp_coverage")).content.decode()
    section = page.split("Mailbox passwords still in mail programs", 1)[1]
    assert employee.email in section and "IMAP" in section


@pytest.mark.parametrize(
    ("mode", "until", "error"),
    [
        ("until", "", "Choose the last day"),
        ("until", "2020-01-01", "That day has passed"),
    ],
)
def test_the_settings_form_checks_the_cut_off_date(client, login, it_staff, mode, until, error):
    login(client, it_staff)
    data = {
        "otp_required": "on", "grace_period_days": 7, "invitation_lifetime_hours": 72, "hard_lock_after": 20,
        "lockout_window_minutes": 15, "captcha_after_failures": 3, "network_captcha_after": 20,
        "code_failures_notify": 3, "code_failures_alert": 10, "reset_emails_per_hour": 3,
        "reset_requests_per_hour": 10, "mailbox_passwords": mode,
        "mailbox_passwords_until": until, "app_passwords_per_user": 10, "mail_refusal_alert_threshold": 20,
        "mail_refusal_alert_minutes": 10,
    }  # fmt: skip
    assert error in client.post(reverse("sign_in_settings"), data).content.decode()


def test_the_settings_page_shows_whether_the_verifier_runs(client, login, it_staff):
    from django.utils import timezone

    login(client, it_staff)
    assert "Never seen" in client.get(reverse("sign_in_settings")).content.decode()
    MailAuthState.store(verifier_seen_at=timezone.now(), verifier_host="mail1")
    page = client.get(reverse("sign_in_settings")).content.decode()
    assert "Running" in page and "mail1" in page


def test_it_staff_let_suspended_passwords_send_again(client, login, it_staff, employee):
    app_passwords.create(employee, name="Laptop", can_read=True, can_send=True)
    app_passwords.suspend_sending(employee, reason="sending burst")
    login(client, it_staff)
    page = client.get(reverse("user_detail", kwargs={"pk": employee.pk})).content.decode()
    assert "sending burst" in page and "Let suspended ones send again" in page
    url = reverse("user_app_passwords_reinstate", kwargs={"pk": employee.pk})
    response = client.post(url, follow=True)
    assert "Say why sending is safe again" in response.content.decode()
    assert AppPassword.objects.get(user=employee).state == "suspended"
    client.post(url, {"reason": "password changed, laptop scanned"})
    assert AppPassword.objects.get(user=employee).state == "active"
    event = AuditEvent.objects.get(action="app_password.reinstated")
    assert event.details["reason"] == "password changed, laptop scanned"
