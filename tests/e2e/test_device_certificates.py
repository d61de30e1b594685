"""In Chromium: a person adds a device, issues and downloads its company certificate (opened with the one-time
password the page shows once), and IT staff revoke the device from the devices list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from playwright.sync_api import expect

from accounts.models import AuditEvent, DeviceCertificate

pytestmark = pytest.mark.e2e


def test_a_person_adds_a_device_downloads_its_certificate_and_it_staff_revoke_it(
    new_page, browser_sign_in, employee, it_staff, settings, tmp_path
):
    settings.DEVICE_CA_DIR = tmp_path / "device-ca"
    csp_errors: list[str] = []
    page = new_page(accept_downloads=True)
    page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    browser_sign_in(page, employee)

    page.get_by_role("link", name="My devices").click()
    page.get_by_role("link", name="Add a device").click()
    page.get_by_label("Name").fill("ThinkPad")
    page.get_by_label("Laptop or desktop").check()
    page.get_by_label("Windows").check()
    page.get_by_role("button", name="Add the device").click()
    expect(page.get_by_role("heading", name="ThinkPad")).to_be_visible()

    page.get_by_role("button", name="Issue a certificate").click()
    page.wait_for_url("**/certificate/")
    password = page.locator("#certificate-password").inner_text()
    assert re.fullmatch(r"([a-z2-9]{4}-){4}[a-z2-9]{4}", password)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the certificate (.p12)").click()
    data = Path(download.value.path()).read_bytes()
    key, cert, _ = pkcs12.load_key_and_certificates(data, password.encode())
    assert key is not None and "ThinkPad" in cert.subject.rfc4514_string()
    page.get_by_role("button", name="It is installed").click()
    expect(page.get_by_text("Its password is not shown again")).to_be_visible()
    assert DeviceCertificate.objects.get().pkcs12 is None  # nothing left to download in clear or otherwise

    staff = new_page()
    browser_sign_in(staff, it_staff)
    staff.goto("/accounts/devices/all/")
    staff.get_by_role("link", name="ThinkPad").click()
    expect(staff.get_by_text("erin@example.com")).to_be_visible()
    staff.get_by_role("button", name="Revoke this device").click()
    expect(staff.get_by_text("is revoked: its mail programs and its certificate no longer get in")).to_be_visible()
    certificate = DeviceCertificate.objects.get()
    assert (certificate.state, certificate.revoked_reason, certificate.revoked_by) == (
        "revoked",
        "device_revoked",
        it_staff,
    )
    assert AuditEvent.objects.filter(action="device.revoked", actor=it_staff).exists()
    assert not csp_errors
