from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, totp_code

pytestmark = pytest.mark.e2e


def test_it_staff_signs_in_and_sees_the_home_page(page, it_staff):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=it_staff, name="Phone", confirmed=True)
    page.goto("/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Email address").fill(it_staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/accounts/login/code/**")
    page.get_by_label("Code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/")
    assert page.get_by_role("heading", name="Welcome, Ivan").is_visible()
    assert page.get_by_role("link", name="Admin").is_visible()
