"""Enrolment: sent there until enrolled, the wizard, QR and key text, confirming, more tokens, removal, IT reset."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import enrolment
from accounts.models import AuditEvent, BackupCodeDevice, OrganisationSettings
from portal.models import OutboxMessage
from tests.conftest import PASSWORD, totp_code

NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def sign_in_without_token(client, user):
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return response


def enrol(client, name="Phone") -> TOTPDevice:
    client.post(reverse("otp_enrol"), {"name": name})
    return TOTPDevice.objects.get(pk=client.session["enrol_device_id"])


def test_a_user_without_a_token_is_sent_to_enrolment_on_every_page(client, employee):
    sign_in_without_token(client, employee)
    for name in ("home", "otp_tokens", "users"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("otp_enrol")), name
    assert client.get(reverse("otp_enrol")).status_code == 200


def test_without_the_otp_requirement_unenrolled_users_get_in(client, employee):
    org = OrganisationSettings.load()
    org.otp_required = False
    org.save()
    sign_in_without_token(client, employee)
    assert client.get(reverse("home")).status_code == 200
    assert enrolment.otp_status(employee) == "none"


def test_the_wizard_shows_a_qr_code_and_the_key_in_groups_of_four(client, employee):
    sign_in_without_token(client, employee)
    device = enrol(client)
    assert not device.confirmed
    page = client.get(reverse("otp_enrol_scan")).content.decode()
    assert '<svg class="qr-code"' in page and "<path" in page
    groups = enrolment.key_groups(device)
    assert all(len(g) == 4 for g in groups[:-1]) and "".join(groups) == enrolment.base32_key(device)
    assert " ".join(f"<span>{g}</span>" for g in groups) in page
    assert "otpauth://totp/Example%20Ltd%3Aerin%40example.com?secret=" in device.config_url
    assert "issuer=Example%20Ltd" in device.config_url


def test_an_unconfirmed_token_does_not_count_and_does_not_sign_in(client, employee):
    sign_in_without_token(client, employee)
    enrol(client)
    assert not enrolment.has_confirmed_token(employee)
    assert client.get(reverse("home"))["Location"].startswith(reverse("otp_enrol"))


def test_confirming_with_a_code_finishes_enrolment_and_verifies_the_session(client, employee):
    sign_in_without_token(client, employee)
    key_before = client.session.session_key
    device = enrol(client)
    wrong = client.post(reverse("otp_enrol_confirm"), {"code": "12345x"})
    assert wrong.status_code == 200 and not TOTPDevice.objects.get(pk=device.pk).confirmed
    response = client.post(reverse("otp_enrol_confirm"), {"code": totp_code(device)})
    assert response["Location"] == reverse("otp_backup_codes")
    device.refresh_from_db()
    assert device.confirmed
    session = client.session
    assert session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert session.session_key != key_before and "otp_verified_at" in session
    assert AuditEvent.objects.filter(action="otp.enrolled", actor=employee).exists()
    # Backup codes: shown once, downloadable, printable; then gone.
    page = client.get(reverse("otp_backup_codes"))
    codes = page.context["codes"]
    assert len(codes) == 10 and all(code in page.content.decode() for code in codes)
    download = client.get(reverse("otp_backup_codes_download"))
    assert download["Content-Disposition"] == 'attachment; filename="backup-codes.txt"'
    assert all(code in download.content.decode() for code in codes)
    assert client.post(reverse("otp_backup_codes"))["Location"] == reverse("otp_enrol_done")
    done = client.get(reverse("otp_enrol_done"))
    assert "You're all set" in done.content.decode() and done.context["next_url"] == ""
    assert done.context["remaining"] == 10
    assert client.get(reverse("otp_backup_codes")).context["codes"] == []
    assert client.get(reverse("otp_backup_codes_download")).status_code == 404
    assert client.get(reverse("home")).status_code == 200


def test_a_code_from_a_different_key_does_not_confirm(client, employee):
    sign_in_without_token(client, employee)
    device = enrol(client)
    other = TOTPDevice(key="3132333435363738393031323334353637383930")
    code = totp_code(other)
    if code == totp_code(device):
        pytest.skip("codes collide")
    assert client.post(reverse("otp_enrol_confirm"), {"code": code}).status_code == 200
    assert AuditEvent.objects.filter(action="otp.enrol_failure").exists()


def test_adding_a_second_token_needs_the_password_again(client, login, employee):
    with time_machine.travel(NOW, tick=False):
        login(client, employee)
    with time_machine.travel(NOW + timedelta(minutes=30), tick=False):
        response = client.get(reverse("otp_enrol"))
        assert response["Location"].startswith(reverse("reauth"))
        assert client.post(reverse("reauth"), {"password": "wrong", "next": reverse("otp_enrol")}).status_code == 200
        response = client.post(reverse("reauth"), {"password": PASSWORD, "next": reverse("otp_enrol")})
        assert response["Location"] == reverse("otp_enrol")
        device = enrol(client, "Spare phone")
        client.post(reverse("otp_enrol_confirm"), {"code": totp_code(device)})
    names = [d.name for d in enrolment.confirmed_tokens(employee)]
    assert names == ["Test phone", "Spare phone"]
    # Backup codes already existed? No: the login fixture makes none, so they were made now.
    assert BackupCodeDevice.objects.filter(user=employee).count() == 1


def test_the_only_token_cannot_be_removed_but_a_second_one_can(client, login, employee):
    first = login(client, employee)
    page = client.get(reverse("otp_tokens")).content.decode()
    assert "Your only token" in page and reverse("otp_token_remove", kwargs={"pk": first.pk}) not in page
    response = client.post(reverse("otp_token_remove", kwargs={"pk": first.pk}), follow=True)
    assert "cannot remove your only token" in response.content.decode()
    second = TOTPDevice.objects.create(user=employee, name="Spare", confirmed=True)
    page = client.get(reverse("otp_tokens")).content.decode()
    assert "Your only token" not in page and 'aria-label="Remove Spare"' in page
    client.post(reverse("otp_token_remove", kwargs={"pk": second.pk}))
    assert list(enrolment.confirmed_tokens(employee)) == [first]
    assert AuditEvent.objects.filter(action="otp.token_removed", details__token="Spare").exists()


def test_removing_needs_a_recent_password(client, login, employee):
    with time_machine.travel(NOW, tick=False):
        login(client, employee)
        spare = TOTPDevice.objects.create(user=employee, name="Spare", confirmed=True)
    with time_machine.travel(NOW + timedelta(minutes=11), tick=False):
        response = client.post(reverse("otp_token_remove", kwargs={"pk": spare.pk}))
    assert response["Location"].startswith(reverse("reauth"))
    assert TOTPDevice.objects.filter(pk=spare.pk).exists()


def test_an_it_reset_ends_otp_verification_at_once_and_requires_enrolment(client, login, employee, it_staff):
    device = login(client, employee)
    assert client.get(reverse("home")).status_code == 200
    enrolment.reset_tokens(employee, actor=it_staff, reason="phone lost")
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    # The same session is no longer OTP-verified: it goes to enrolment (webmail refuses it too).
    response = client.get(reverse("home"))
    assert response["Location"].startswith(reverse("otp_enrol"))
    assert DEVICE_ID_SESSION_KEY not in client.session
    event = AuditEvent.objects.get(action="otp.reset")
    assert event.actor == it_staff and event.target == employee.email and event.details["reason"] == "phone lost"
    notice = OutboxMessage.objects.get(kind="accounts-token-reset")
    assert notice.to == [employee.email] and "phone lost" in notice.body_text
    employee.refresh_from_db()
    assert enrolment.otp_status(employee) == "pending"  # the grace period starts again


def test_otp_status_follows_the_grace_period(employee):
    with time_machine.travel(employee.otp_grace_start + timedelta(days=6, hours=23), tick=False):
        assert enrolment.otp_status(employee) == "pending"
    with time_machine.travel(employee.otp_grace_start + timedelta(days=7), tick=False):
        assert enrolment.otp_status(employee) == "overdue"
    TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)
    assert enrolment.otp_status(employee) == "enrolled"


def test_the_session_records_when_the_otp_step_passed(client, employee):
    sign_in_without_token(client, employee)
    device = enrol(client)
    before = int(time.time())
    client.post(reverse("otp_enrol_confirm"), {"code": totp_code(device)})
    assert before <= client.session["otp_verified_at"] <= int(time.time())


def test_a_password_only_session_cannot_add_a_token_once_the_user_has_one(client, employee):
    """Someone who signed in with the password before the owner enrolled must not add their own token."""
    sign_in_without_token(client, employee)
    TOTPDevice.objects.create(user=employee, name="Owner's phone", confirmed=True)  # enrolled elsewhere
    for name in ("otp_enrol", "otp_enrol_scan", "otp_enrol_confirm", "reauth", "otp_backup_codes"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("otp_verify")), name
    response = client.post(reverse("otp_enrol"), {"name": "Attacker"})
    assert response["Location"] == reverse("otp_verify")
    assert not TOTPDevice.objects.filter(name="Attacker").exists()


@pytest.mark.parametrize(
    ("next_url", "lands_on"), [("/policies/attest/7/", "/policies/attest/7/"), ("https://evil.example/", "")]
)
def test_an_emailed_link_is_kept_through_sign_in_and_enrolment(client, employee, next_url, lands_on):
    response = client.post(reverse("login") + f"?next={next_url}", {"username": employee.email, "password": PASSWORD})
    assert response["Location"] == (lands_on or reverse("home"))
    device = enrol(client)
    client.post(reverse("otp_enrol_confirm"), {"code": totp_code(device)})
    assert client.post(reverse("otp_backup_codes"))["Location"] == reverse("otp_enrol_done")
    done = client.get(reverse("otp_enrol_done"))
    assert done.context["next_url"] == lands_on
    assert f'href="{lands_on or "/"}"' in done.content.decode()


def test_the_scan_page_offers_the_authenticator_link_for_this_phone(client, employee):
    sign_in_without_token(client, employee)
    device = enrol(client)
    page = client.get(reverse("otp_enrol_scan")).content.decode()
    assert 'href="otpauth://totp/' in page and "Add to authenticator app on this phone" in page
    assert device.config_url.split("?secret=")[1].split("&")[0] in page
