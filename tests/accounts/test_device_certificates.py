"""The devices CA and certificates: key encrypted at rest, issuing as PKCS#12 behind a one-time password, the
Apple profile, revocation (device, deactivation), CRLs and their files, rotation, renewal reminders."""

from __future__ import annotations

import datetime as dt
import plistlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from accounts.devices import ca, inventory, issuing
from accounts.models import AuditEvent, Device, DeviceCA, DeviceCertificate
from portal.models import OutboxMessage


@pytest.fixture
def ca_dir(settings, tmp_path):
    settings.DEVICE_CA_DIR = tmp_path / "device-ca"
    return settings.DEVICE_CA_DIR


@pytest.fixture
def laptop(employee):
    return Device.objects.create(user=employee, name="ThinkPad", kind="laptop", platform="windows")


def crl_serials(pem: str) -> set[int]:
    return {entry.serial_number for entry in x509.load_pem_x509_crl(pem.encode())}


def test_it_creates_the_ca_on_first_use_with_a_clear_name_and_an_encrypted_key(
    laptop, ca_dir, settings, django_capture_on_commit_callbacks
):
    assert not DeviceCA.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):  # the files are written once the CA is committed
        issuing.issue(laptop, by=laptop.user)
    authority = DeviceCA.objects.get()
    assert authority.name == "Example Ltd devices CA" and authority.state == "active"
    cert = x509.load_pem_x509_certificate(authority.certificate_pem.encode())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    years = (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365.25
    assert 9.99 < years < 10.01
    # At rest: the stored bytes are no unencrypted key; only the passphrase opens them.
    assert "ENCRYPTED PRIVATE KEY" in authority.encrypted_key_pem
    with pytest.raises(TypeError, match="encrypted"):
        serialization.load_pem_private_key(authority.encrypted_key_pem.encode(), password=None)
    key = serialization.load_pem_private_key(
        authority.encrypted_key_pem.encode(), password=settings.DEVICE_CA_KEY_PASSPHRASE.encode()
    )
    assert key.public_key() == cert.public_key()
    assert (ca_dir / "ca-bundle.pem").read_text() == authority.certificate_pem


def test_a_wrong_passphrase_stops_the_start_with_a_clear_message(laptop, settings):
    issuing.issue(laptop, by=laptop.user)
    ca.check_passphrase()  # the right one passes
    settings.DEVICE_CA_KEY_PASSPHRASE = "a-different-passphrase-of-enough-length"
    with pytest.raises(ImproperlyConfigured, match="DEVICE_CA_KEY_PASSPHRASE does not open the private key of"):
        ca.check_passphrase()
    settings.DEVICE_CA_KEY_PASSPHRASE = ""
    with pytest.raises(ImproperlyConfigured, match="DEVICE_CA_KEY_PASSPHRASE is not set"):
        ca.check_passphrase()


def test_the_passphrase_setting_refuses_a_weak_one_or_the_secret_key():
    from portal.env import passphrase_problem

    secret_key = "s" * 10 + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
    assert "at least 20" in passphrase_problem("short", secret_key)
    assert "SECRET_KEY" in passphrase_problem(secret_key[10:40], secret_key)
    assert passphrase_problem("Zq8-kX2_pL9mN4vB7cR1tY", secret_key) is None


def test_the_pkcs12_opens_with_the_one_time_password_and_names_person_and_device(laptop, ca_dir):
    issued = issuing.issue(laptop, by=laptop.user)
    assert issued.password.count("-") == 4 and len(issued.password) == 24
    data = bytes(issued.certificate.pkcs12)
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data, b"wrong")
    key, cert, extra = pkcs12.load_key_and_certificates(data, issued.password.encode())
    assert key.public_key() == cert.public_key() and not extra
    assert cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == "Erin Employee (ThinkPad)"
    assert format(cert.serial_number, "x") == issued.certificate.serial
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert 364 <= (cert.not_valid_after_utc - timezone.now()).days <= 365
    event = AuditEvent.objects.get(action="device_certificate.issued")
    assert event.details["serial"] == issued.certificate.serial_display and event.target == laptop.user.email


def test_the_file_is_handed_out_once_and_then_forgotten(laptop, ca_dir):
    issued = issuing.issue(laptop, by=laptop.user)
    assert issuing.take_pkcs12(issued.certificate)
    issued.certificate.refresh_from_db()
    assert issued.certificate.pkcs12 is None and issued.certificate.downloaded_at
    assert issuing.take_pkcs12(issued.certificate) is None
    assert AuditEvent.objects.filter(action="device_certificate.downloaded").count() == 1


def test_a_new_certificate_replaces_the_old_one_once_downloaded(laptop, ca_dir):
    first = issuing.issue(laptop, by=laptop.user).certificate
    issuing.take_pkcs12(first)
    second = issuing.issue(laptop, by=laptop.user).certificate
    first.refresh_from_db()
    assert first.state == "active"  # the device keeps webmail while the new file is on its way
    issuing.take_pkcs12(second)
    first.refresh_from_db()
    assert (first.state, first.revoked_reason) == ("revoked", "superseded")


def test_the_apple_profile_holds_the_mail_account_and_the_certificate(client, login, employee, ca_dir):
    from accounts import app_passwords

    login(client, employee)
    iphone = Device.objects.create(user=employee, name="iPhone", kind="phone", platform="apple")
    app_passwords.create(employee, name="iPhone Mail", can_read=True, can_send=True, device=iphone)
    response = client.post(reverse("device_certificate_issue", kwargs={"pk": iphone.pk}))
    assert response["Location"] == reverse("device_certificate", kwargs={"pk": iphone.pk})
    page = client.get(response["Location"]).content.decode()
    password = page.split('id="certificate-password">', 1)[1].split("<", 1)[0]
    assert "Download the Apple profile" in page

    profile = plistlib.loads(client.get(reverse("device_profile", kwargs={"pk": iphone.pk})).content)
    kinds = {payload["PayloadType"]: payload for payload in profile["PayloadContent"]}
    assert set(kinds) == {"com.apple.mail.managed", "com.apple.security.pkcs12"}
    certificate = kinds["com.apple.security.pkcs12"]
    assert "Password" not in certificate  # the device asks for the one-time password
    _key, cert, _ = pkcs12.load_key_and_certificates(certificate["PayloadContent"], password.encode())
    assert format(cert.serial_number, "x") == DeviceCertificate.objects.get().serial
    # Given out once: the next profile has the mail account only, and the .p12 link is gone.
    again = plistlib.loads(client.get(reverse("device_profile", kwargs={"pk": iphone.pk})).content)
    assert [p["PayloadType"] for p in again["PayloadContent"]] == ["com.apple.mail.managed"]
    assert client.get(reverse("device_certificate_download", kwargs={"pk": iphone.pk})).status_code == 404
    assert DeviceCertificate.objects.get().pkcs12 is None


def test_issuing_needs_the_password_again(client, login, employee, laptop):
    login(client, employee)
    session = client.session
    session["password_verified_at"] = 0
    session.save()
    response = client.post(reverse("device_certificate_issue", kwargs={"pk": laptop.pk}))
    assert response["Location"].startswith(reverse("reauth"))
    assert not DeviceCertificate.objects.exists()


def test_it_staff_issue_for_someone_and_download_the_p12(client, login, it_staff, laptop, ca_dir):
    login(client, it_staff)
    client.post(reverse("device_certificate_issue", kwargs={"pk": laptop.pk}))
    page = client.get(reverse("device_certificate", kwargs={"pk": laptop.pk})).content.decode()
    password = page.split('id="certificate-password">', 1)[1].split("<", 1)[0]
    response = client.get(reverse("device_certificate_download", kwargs={"pk": laptop.pk}))
    assert response["Content-Type"] == "application/x-pkcs12"
    pkcs12.load_key_and_certificates(response.content, password.encode())
    assert DeviceCertificate.objects.get().issued_by == it_staff


def test_revoking_the_device_revokes_certificate_and_app_passwords_and_the_crl_follows(laptop, ca_dir):
    from accounts import app_passwords
    from accounts.tasks import run_tick

    password = app_passwords.create(laptop.user, name="Outlook", can_read=True, can_send=True, device=laptop).password
    certificate = issuing.issue(laptop, by=laptop.user).certificate
    assert inventory.revoke(laptop, reason=Device.RevokeReason.OWNER, by=laptop.user)
    certificate.refresh_from_db()
    password.refresh_from_db()
    assert (certificate.state, certificate.revoked_reason, password.state) == ("revoked", "device_revoked", "revoked")
    assert DeviceCA.objects.get().crl_wanted
    run_tick()  # what beat's minute tick (or the task published after the revocation) does
    authority = DeviceCA.objects.get()
    assert not authority.crl_wanted and int(certificate.serial, 16) in crl_serials(authority.crl_pem)
    assert (ca_dir / "crl.pem").read_text() == authority.crl_pem
    crl = x509.load_pem_x509_crl(authority.crl_pem.encode())
    assert crl.is_signature_valid(x509.load_pem_x509_certificate(authority.certificate_pem.encode()).public_key())
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(days=7)


def test_deactivating_the_person_revokes_their_certificates(employee, laptop, ca_dir):
    certificate = issuing.issue(laptop, by=employee).certificate
    employee.is_active = False
    employee.save()
    certificate.refresh_from_db()
    assert (certificate.state, certificate.revoked_reason) == ("revoked", "deactivated")
    assert AuditEvent.objects.filter(action="device_certificate.revoked_all", target=employee.email).exists()


def test_a_day_old_crl_is_signed_again_before_it_expires(laptop, ca_dir):
    issuing.issue(laptop, by=laptop.user)
    ca.refresh_crls()
    first = DeviceCA.objects.get()
    assert ca.refresh_crls()["crls_signed"] == 0
    later = timezone.now() + dt.timedelta(days=1, minutes=1)
    assert ca.refresh_crls(now=later)["crls_signed"] == 1
    assert DeviceCA.objects.get().crl_number == first.crl_number + 1


def test_rotation_trusts_old_and_new_until_the_old_one_is_retired(laptop, ca_dir, django_capture_on_commit_callbacks):
    old_certificate = issuing.issue(laptop, by=laptop.user).certificate
    issuing.take_pkcs12(old_certificate)
    old = DeviceCA.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        new = ca.rotate()
    old.refresh_from_db()
    assert (old.state, new.state, new.name) == ("retiring", "active", "Example Ltd devices CA 2")
    new_certificate = issuing.issue(laptop, by=laptop.user).certificate
    assert new_certificate.ca == new
    bundle = (ca_dir / "ca-bundle.pem").read_text()
    assert old.certificate_pem in bundle and new.certificate_pem in bundle
    assert (ca_dir / "crl.pem").read_text().count("BEGIN X509 CRL") == 2  # nginx checks both chains
    with pytest.raises(ValueError, match="Retire the previous CA"):
        ca.rotate()

    with django_capture_on_commit_callbacks(execute=True):
        assert ca.retire(old) == 1
    old_certificate.refresh_from_db()
    assert (old_certificate.state, old_certificate.revoked_reason) == ("revoked", "ca_retired")
    assert (ca_dir / "ca-bundle.pem").read_text() == new.certificate_pem


def test_owners_are_reminded_30_and_7_days_before_expiry_once_each(laptop, ca_dir):
    certificate = issuing.issue(laptop, by=laptop.user).certificate
    issuing.take_pkcs12(certificate)
    end = certificate.not_after
    assert issuing.remind_expiring(now=end - dt.timedelta(days=31)) == 0
    assert issuing.remind_expiring(now=end - dt.timedelta(days=29)) == 1
    issuing.remind_expiring(now=end - dt.timedelta(days=20))
    issuing.remind_expiring(now=end - dt.timedelta(days=6))
    keys = sorted(OutboxMessage.objects.values_list("key", flat=True))
    assert keys == [
        f"accounts.device-certificate-expiring:{certificate.pk}:30|email",
        f"accounts.device-certificate-expiring:{certificate.pk}:7|email",
    ]
    assert "ThinkPad" in OutboxMessage.objects.first().subject


def test_the_device_list_filters_for_it_staff(client, login, it_staff, employee, laptop, ca_dir):
    phone = Device.objects.create(user=employee, name="Pixel", kind="phone")
    soon = issuing.issue(phone, by=it_staff, now=timezone.now() - dt.timedelta(days=350)).certificate
    issuing.take_pkcs12(soon)
    Device.objects.filter(pk=laptop.pk).update(webmail_last_seen_at=timezone.now())
    Device.objects.filter(pk=phone.pk).update(hygiene_overdue_since=timezone.now())
    assert [d.name for d in inventory.filtered("expiring")] == ["Pixel"]
    assert [d.name for d in inventory.filtered("overdue")] == ["Pixel"]
    assert [d.name for d in inventory.filtered("never_seen")] == ["Pixel"]
    login(client, it_staff)
    page = client.get(reverse("all_devices"), {"show": "expiring"}).content.decode()
    assert "Pixel" in page and "ThinkPad" not in page


def test_the_web_process_does_not_start_with_a_wrong_passphrase(transactional_db, employee, ca_dir):
    import os
    import subprocess
    import sys

    from django.db import connection

    from tests.services import ROOT, database_url

    issuing.issue(Device.objects.create(user=employee, name="ThinkPad"), by=employee)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "DEVICE_CA_KEY_PASSPHRASE": "not-the-passphrase-of-this-ca-42",
    }
    started = subprocess.run(
        [sys.executable, "-c", "import portal.wsgi"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert started.returncode != 0
    assert "DEVICE_CA_KEY_PASSPHRASE does not open the private key of “Example Ltd devices CA”" in started.stderr
