"""In Chromium: a new employee enrols, makes an app password for a device, sees the set-up page, logs in
to the real Dovecot with it, and revokes it; the mail server refuses it at once."""

from __future__ import annotations

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from accounts.models import AppPassword
from tests.conftest import PASSWORD, totp_code

pytestmark = pytest.mark.e2e


def test_enrol_make_an_app_password_set_up_the_device_and_revoke_it(page, live_server, make_user, mail_stack):
    csp_errors: list[str] = []
    page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    make_user("erin@example.com", first_name="Erin")

    # Sign in without a token: enrolment first (why -> scan -> confirm -> backup codes).
    page.goto("/accounts/login/")
    page.get_by_label("Email address").fill("erin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/accounts/tokens/enrol/**")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url("**/enrol/scan/")
    page.get_by_role("link", name="Next: enter a code").click()
    page.get_by_label("Code from your app").fill(totp_code(TOTPDevice.objects.get(user__email="erin@example.com")))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("button", name="I have stored my backup codes").click()
    page.get_by_role("link", name="Go to the home page").click()
    page.wait_for_url(f"{live_server.url}/")

    # My devices -> the laptop -> a new app password for its mail program.
    page.get_by_role("link", name="My devices").click()
    expect(page.get_by_role("heading", name="Your devices")).to_be_visible()
    page.get_by_role("link", name="Add a device").click()
    page.get_by_label("Name").fill("Laptop")
    page.get_by_role("button", name="Add the device").click()
    page.get_by_role("link", name="Set up a mail program").click()
    page.get_by_label("Device and program").fill("Thunderbird on my laptop")
    page.get_by_label("Read and send mail", exact=False).check()
    page.get_by_role("button", name="Make the app password").click()

    # The set-up page: the password once, the settings, the per-program steps.
    page.wait_for_url("**/accounts/app-passwords/*/setup/")
    expect(page.get_by_role("heading", name="Set up mail on a device")).to_be_visible()
    secret = page.locator("#app-password").inner_text()
    assert re.fullmatch(r"([a-z]{4}-){5}[a-z]{4}", secret)
    expect(page.get_by_text("It is shown only now")).to_be_visible()
    expect(page.get_by_role("link", name="Download the mail profile")).to_be_visible()
    expect(page.get_by_role("heading", name="Thunderbird")).to_be_visible()
    expect(page.get_by_text("Why not port 25?")).to_be_visible()

    # What the mail program does with it: IMAP and SMTP through the real Dovecot and Postfix.
    assert mail_stack.imap("erin@example.com", secret) == "ok"
    assert mail_stack.smtp("erin@example.com", secret) == "ok"

    page.get_by_role("button", name="I have entered it on the device").click()
    page.wait_for_url("**/accounts/devices/*/")
    expect(page.get_by_text("is set up. The password is not shown again")).to_be_visible()
    row = page.get_by_role("row", name=re.compile("Thunderbird on my laptop"))
    expect(row.get_by_text("Read and send")).to_be_visible()

    # Revoke it: the device is locked out at once.
    row.get_by_role("button", name="Revoke Thunderbird on my laptop").click()
    expect(page.get_by_text("is revoked: that device can no longer get or send mail")).to_be_visible()
    expect(row.get_by_text("Revoked")).to_be_visible()
    assert AppPassword.objects.get().state == "revoked"
    assert mail_stack.imap("erin@example.com", secret) == "failed"
    assert not csp_errors
