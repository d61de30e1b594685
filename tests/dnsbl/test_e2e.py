"""In Chromium: IT staff check a new range; the page follows the worker's progress and shows the result."""

from __future__ import annotations

import pytest

from tests.dnsserver import ip_zone

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_the_check_page_shows_progress_then_the_listing(
    page, browser_sign_in, it_staff, celery_worker_factory, celery_app, dns_server, dnsbl_catalogue
):
    dnsbl_catalogue({"zone": "bl.test", "codes": {"127.0.0.2": "Spam source"}, "delisting_url": "https://bl.test/x"})
    server = dns_server([ip_zone("bl.test", {"198.51.100.77": (["127.0.0.2"], "Trap hit")})], delay=0.05)
    celery_worker_factory(concurrency=1, env={"DNSBL_NAMESERVERS": server.address, "DNSBL_MAX_IN_FLIGHT": "4"})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    browser_sign_in(page, it_staff)
    page.get_by_role("link", name="Monitoring").click()  # IT's menu: the group, then its page
    page.get_by_role("navigation", name="Monitoring").get_by_role("link", name="Block lists").click()
    page.get_by_role("link", name="Check a new address or range").click()
    page.get_by_label("Addresses or networks").fill("198.51.100.0/25")
    page.get_by_role("button", name="Check").click()
    page.wait_for_url("**/monitoring/dnsbl/check/*/")
    page.get_by_text("Listed 1 time on healthy lists").wait_for(timeout=60_000)  # the script reloads when done
    assert page.get_by_role("link", name="delisting page").get_attribute("href") == "https://bl.test/x"
    assert page.get_by_text("Trap hit").is_visible()
    # No CSP violation, no script error (the missing /favicon.ico is not ours).
    assert [e for e in errors if "Content Security Policy" in e or "Uncaught" in e] == []
