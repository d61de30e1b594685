"""In Chromium: an invited employee sets a password, enrols, keeps backup codes, signs in with fresh codes,
a reused code is refused, a backup code works once, and after an IT reset must enrol again."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import time_machine
from django_otp.oath import TOTP
from playwright.sync_api import expect

from accounts import invitations
from accounts.models import AuditEvent
from portal import outbox
from portal.models import OutboxMessage

pytestmark = pytest.mark.e2e

PASSWORD = "my first portal password 7"
START = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)


def code_for(key_text: str, at: datetime) -> str:
    """What the employee's phone shows: TOTP (SHA-1, 6 digits, 30 s) from the key typed off the page."""
    key = key_text.replace(" ", "")
    secret = base64.b32decode(key + "=" * (-len(key) % 8))
    totp = TOTP(secret)
    totp.time = at.timestamp()
    return f"{totp.token():06d}"


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")


def test_invited_employee_enrols_and_signs_in_with_codes(
    page, new_page, browser_sign_in, smtp_server, make_user, it_staff
):
    sign_in, enter_code = browser_sign_in.password, browser_sign_in.code
    csp_errors: list[str] = []
    page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    nina = make_user("nina@example.com", first_name="Nina", password=None)

    with time_machine.travel(START, tick=True) as clock:
        # IT staff invite; the link arrives by (real) email.
        invitations.invite(nina, actor=it_staff)
        outbox.send_emails(list(OutboxMessage.objects.values_list("pk", flat=True)))
        link = re.search(r"http://\S+/accounts/invitation/\S+/", smtp_server.messages[0].text()).group(0)

        page.goto(urlsplit(link).path)
        page.locator("#id_new_password1").fill(PASSWORD)
        page.get_by_label("New password confirmation").fill(PASSWORD)
        page.get_by_role("button", name="Set password").click()

        # Why -> scan -> confirm -> backup codes.
        page.wait_for_url("**/accounts/tokens/enrol/")
        assert page.get_by_role("heading", name="Protect your account with a one-time code").is_visible()
        page.get_by_role("button", name="Start").click()
        page.wait_for_url("**/enrol/scan/")
        assert page.locator("svg.qr-code").is_visible()
        key_text = page.locator("#otp-key").inner_text()
        assert re.fullmatch(r"([A-Z2-7]{4} )+[A-Z2-7]{1,4}", key_text)
        page.get_by_role("link", name="Next: enter a code").click()
        page.get_by_label("Code from your app").fill(code_for(key_text, datetime.now(UTC)))
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_url("**/tokens/backup-codes/")
        codes = page.locator("#backup-codes li").all_inner_texts()
        assert len(codes) == 10
        with page.expect_download() as download:
            page.get_by_role("link", name="Download as text file").click()
        assert codes[0] in Path(download.value.path()).read_text(encoding="utf-8")
        page.get_by_role("button", name="I have stored my backup codes").click()
        page.wait_for_url("**/tokens/enrol/done/")
        assert page.get_by_role("heading", name="You're all set").is_visible()
        page.get_by_role("link", name="Go to the home page").click()
        page.wait_for_url("**/")
        assert page.get_by_role("heading", name="Welcome, Nina").is_visible()
        sign_out(page)

        # A fresh code (next time step) signs in.
        clock.shift(timedelta(seconds=30))
        fresh = code_for(key_text, datetime.now(UTC))
        sign_in(page, nina.email, PASSWORD)
        enter_code(page, fresh)
        page.wait_for_url("**/")
        assert page.get_by_role("heading", name="Welcome, Nina").is_visible()
        sign_out(page)

        # The same code a second time is refused.
        sign_in(page, nina.email, PASSWORD)
        enter_code(page, fresh)
        # expect() waits for the answer to the form post; is_visible() looked at whichever page was there.
        expect(page.get_by_text("This code has already been used")).to_be_visible()
        assert AuditEvent.objects.filter(action="otp.reuse", actor=nina).exists()
        page.get_by_role("button", name="Cancel and start again").click()

        # A backup code works once.
        sign_in(page, nina.email, PASSWORD)
        enter_code(page, codes[0])
        page.wait_for_url("**/")
        sign_out(page)
        sign_in(page, nina.email, PASSWORD)
        enter_code(page, codes[0])
        expect(page.get_by_text("That code is not valid")).to_be_visible()
        page.get_by_role("button", name="Cancel and start again").click()

        # IT staff reset the tokens (in their own browser): the next sign-in must enrol again.
        it_page = new_page()
        browser_sign_in(it_page, it_staff)
        it_page.goto(f"/accounts/users/{nina.pk}/")
        it_page.get_by_role("link", name="Reset tokens…").click()
        it_page.get_by_label("Reason").fill("Phone lost on the train")
        it_page.get_by_role("button", name="Reset tokens").click()
        expect(it_page.get_by_text("they must enrol again")).to_be_visible()
        assert AuditEvent.objects.get(action="otp.reset").details["reason"] == "Phone lost on the train"
        clock.shift(timedelta(seconds=30))
        sign_in(page, nina.email, PASSWORD)
        page.wait_for_url("**/accounts/tokens/enrol/**")
        assert page.get_by_role("heading", name="Protect your account with a one-time code").is_visible()
        page.goto("/")
        assert "/accounts/tokens/enrol/" in page.url

    assert csp_errors == []
