"""In Chromium: after three failures the sign-in form shows a picture code that loads under the strict CSP."""

from __future__ import annotations

import pytest
from captcha.models import CaptchaStore
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import PASSWORD, totp_code

pytestmark = pytest.mark.e2e


def test_the_captcha_appears_after_three_failures_and_a_person_can_pass_it(page, browser_sign_in, employee):
    csp_errors: list[str] = []
    page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    device = TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)
    page.goto("/accounts/login/")
    for _ in range(3):
        page.get_by_label("Email address").fill(employee.email)
        page.get_by_label("Password").fill("not my password")
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_text("Email address or password is not correct.").is_visible()
    # The third failure also asks for a short wait before the next try, and says so.
    assert page.get_by_text("Wait 1 second, then try again.").is_visible()
    page.wait_for_timeout(1200)
    image = page.locator("img.captcha")
    image.wait_for()
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0  # loaded, under the CSP
    # What the person reads off the picture.
    key = page.locator("input[name=captcha_0]").input_value()
    answer = CaptchaStore.objects.get(hashkey=key).response
    page.get_by_label("Email address").fill(employee.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("input[name=captcha_1]").fill(answer)
    page.get_by_role("button", name="Sign in").click()
    browser_sign_in.code(page, totp_code(device))
    page.wait_for_url("**/")
    assert page.get_by_role("heading", name="Welcome, Erin").is_visible()
    assert csp_errors == []
