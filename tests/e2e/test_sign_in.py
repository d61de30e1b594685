from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_it_staff_signs_in_and_sees_the_home_page(page, it_staff, browser_sign_in):
    page.goto("/")
    assert "/accounts/login/" in page.url
    browser_sign_in(page, it_staff, goto=None)
    assert page.get_by_role("heading", name="Welcome, Ivan").is_visible()
    assert page.get_by_role("link", name="Admin").is_visible()
