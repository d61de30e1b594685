"""The pages fit a phone's screen: nothing makes the page scroll sideways at 390 px."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import User

pytestmark = pytest.mark.e2e

PAGES = [
    "/",
    "/policies/",
    "/policies/summary/",
    "/policies/manage/",
    "/policies/campaigns/",
    "/policies/procedures/",
    "/monitoring/dnsbl/",
    "/monitoring/dnsbl/zones/",
    "/monitoring/load/",
    "/monitoring/load/drift/",
    "/accounts/users/",
    "/accounts/audit/",
    "/accounts/tokens/",
]


def test_pages_fit_a_phone(new_page, browser_sign_in):
    call_command("demo", password="demo password for layout", stdout=StringIO())
    page = new_page(viewport={"width": 390, "height": 800})
    browser_sign_in(page, User.objects.get(email="it@example.com"), password="demo password for layout")
    too_wide = {}
    for path in PAGES:
        response = page.goto(path)
        assert response.status == 200, path
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > 390:
            too_wide[path] = width
    assert too_wide == {}


def test_the_it_menu_fits_one_row_at_desktop_width(new_page, browser_sign_in, it_staff):
    page = new_page(viewport={"width": 1366, "height": 768})
    browser_sign_in(page, it_staff)
    for path in ("/", "/accounts/users/", "/monitoring/load/"):
        page.goto(path)
        tops = page.evaluate("() => [...document.querySelectorAll('.main-nav li')].map(li => li.offsetTop)")
        assert len(tops) == 8 and len(set(tops)) == 1, (path, tops)
        assert page.locator(".main-nav [aria-current]").count() <= 1
