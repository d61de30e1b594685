"""In Chromium: IT staff check a new range; the page follows the worker's progress and shows the result."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, totp_code
from tests.dnsserver import ip_zone

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def sign_in(page, user) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    page.goto("/accounts/login/")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/accounts/login/code/**")
    page.get_by_label("Code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/")


def test_the_check_page_shows_progress_then_the_listing(
    page, it_staff, celery_worker_factory, celery_app, dns_server, dnsbl_catalogue
):
    dnsbl_catalogue({"zone": "bl.test", "codes": {"127.0.0.2": "Spam source"}, "delisting_url": "https://bl.test/x"})
    server = dns_server([ip_zone("bl.test", {"198.51.100.77": (["127.0.0.2"], "Trap hit")})], delay=0.05)
    celery_worker_factory(concurrency=1, env={"DNSBL_NAMESERVERS": server.address, "DNSBL_MAX_IN_FLIGHT": "4"})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, it_staff)
    page.get_by_role("link", name="Block lists").click()
    page.get_by_role("link", name="Check a new address or range").click()
    page.get_by_label("Addresses or networks").fill("198.51.100.0/25")
    page.get_by_role("button", name="Check").click()
    page.wait_for_url("**/monitoring/dnsbl/check/*/")
    page.get_by_text("Listed 1 time on healthy lists").wait_for(timeout=60_000)  # the script reloads when done
    assert page.get_by_role("link", name="delisting page").get_attribute("href") == "https://bl.test/x"
    assert page.get_by_text("Trap hit").is_visible()
    # No CSP violation, no script error (the missing /favicon.ico is not ours).
    assert [e for e in errors if "Content Security Policy" in e or "Uncaught" in e] == []
