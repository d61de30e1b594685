"""Backup codes: ten, shown once, stored hashed, each works once, a new set replaces the old."""

from __future__ import annotations

from django.urls import reverse

from accounts import backup_codes
from accounts.models import AuditEvent, BackupCode, BackupCodeDevice


def test_it_makes_ten_distinct_readable_codes(employee):
    codes = backup_codes.regenerate(employee)
    assert len(codes) == len(set(codes)) == 10
    assert all(len(code) == 11 and code[5] == "-" for code in codes)
    assert not set("".join(codes).replace("-", "")) - set(backup_codes.ALPHABET)


def test_the_database_holds_only_salted_hashes(employee):
    codes = backup_codes.regenerate(employee)
    stored = list(BackupCode.objects.values_list("code_hash", flat=True))
    assert len(stored) == 10 and len(set(stored)) == 10
    for code in codes:
        plain = backup_codes.normalise(code)
        assert not any(plain in value or code in value for value in stored)
    assert all(value.startswith("pbkdf2_sha256$20000$") for value in stored)


def test_each_code_works_once_whatever_the_case_and_dashes(employee):
    codes = backup_codes.regenerate(employee)
    device = BackupCodeDevice.objects.get(user=employee)
    assert device.verify_token(codes[3].upper().replace("-", " "))
    device.throttle_reset()
    assert not device.verify_token(codes[3])
    device.throttle_reset()
    assert device.verify_token(codes[4])
    assert backup_codes.remaining(employee) == 8


def test_a_new_set_replaces_the_old_one(employee):
    old = backup_codes.regenerate(employee)
    new = backup_codes.regenerate(employee)
    device = BackupCodeDevice.objects.get(user=employee)
    assert not device.verify_token(old[0])
    device.throttle_reset()
    assert device.verify_token(new[0])
    assert AuditEvent.objects.filter(action="otp.backup_codes_generated").count() == 2


def test_wrong_backup_codes_are_throttled(employee):
    codes = backup_codes.regenerate(employee)
    device = BackupCodeDevice.objects.get(user=employee)
    assert not device.verify_token("aaaaa-aaaaa")
    assert not device.verify_token(codes[0])  # too soon after a failure: refused without checking
    assert backup_codes.remaining(employee) == 10


def test_regenerating_from_the_tokens_page_shows_the_new_codes_once(client, login, employee):
    login(client, employee)
    response = client.post(reverse("otp_backup_codes_regenerate"))
    assert response["Location"] == reverse("otp_backup_codes")
    codes = client.get(reverse("otp_backup_codes")).context["codes"]
    assert len(codes) == 10
    assert client.post(reverse("otp_backup_codes"))["Location"] == reverse("otp_tokens")
    page = client.get(reverse("otp_tokens")).content.decode()
    assert "<strong>10</strong> unused backup codes" in page
    assert not any(code in page for code in codes)


def test_a_session_signed_in_with_a_backup_code_sees_the_new_set(client, employee):
    # Phone lost: the user signs in with a backup code and makes a new set. This session stays
    # signed in, so the new codes are shown, not lost; another one signed in with an old code ends.
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.conftest import PASSWORD

    TOTPDevice.objects.create(user=employee, name="Lost phone", confirmed=True)
    old = backup_codes.regenerate(employee)
    other = Client()
    for browser, code in ((client, old[0]), (other, old[2])):
        browser.post(reverse("login"), {"username": employee.email, "password": PASSWORD})
        assert browser.post(reverse("otp_verify"), {"code": code}).status_code == 302
    assert client.post(reverse("otp_backup_codes_regenerate"))["Location"] == reverse("otp_backup_codes")
    response = client.get(reverse("otp_backup_codes"))
    assert response.status_code == 200 and len(response.context["codes"]) == 10
    device = BackupCodeDevice.objects.get(user=employee)
    assert not device.verify_token(old[1])
    device.throttle_reset()
    assert device.verify_token(response.context["codes"][0])
    assert other.get(reverse("otp_tokens"))["Location"].startswith(reverse("otp_verify"))
