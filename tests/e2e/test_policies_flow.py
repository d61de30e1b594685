"""In Chromium: IT staff publish a policy and a campaign; an employee follows the emailed link and acknowledges;
the executive summary shows the new rate. The campaign goes out through a real worker, Redis and SMTP."""

from __future__ import annotations

import re
import time

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_a_policy_goes_from_publishing_to_an_acknowledgement_on_the_summary(
    new_page,
    live_server,
    page,
    browser_sign_in,
    settings,
    smtp_server,
    celery_worker_factory,
    celery_app,
    it_staff,
    employee,
    executive,
):
    from kombu import pools

    pools.reset()  # producer pools from an earlier test may belong to a closed connection pool
    settings.PORTAL_BASE_URL = live_server.url
    celery_worker_factory(concurrency=2, env={**smtp_server.env(), "PORTAL_BASE_URL": live_server.url})

    # IT staff write and publish the policy.
    page.goto("/policies/manage/new/")
    browser_sign_in(page, it_staff, goto=None, wait_for="**/policies/manage/new/")
    page.locator("[name=title]").fill("Reading mail away from the office")
    page.locator("[name=category]").select_option("access")
    page.locator("[name=summary]").fill("Use webmail over HTTPS with a one-time code.")
    page.locator("[name=body]").fill("## What to do\n\n1. Use **webmail**.\n2. Never relay from home.")
    page.get_by_role("button", name="Save draft").click()
    page.get_by_role("link", name="Publish").click()
    page.get_by_role("button", name="Publish").click()
    assert page.get_by_text("Version 1 of “Reading mail away from the office” is published.").is_visible()

    # ... and a campaign linked to it, sent now.
    page.goto("/policies/campaigns/new/")
    page.locator("[name=name]").fill("Away-from-office reminder")
    page.locator("[name=subject]").fill("Please read: mail away from the office")
    page.locator("[name=message]").fill("Two minutes to read, one click to confirm.")
    page.locator("[name=policy]").select_option(label="Reading mail away from the office")
    page.locator("[name=starts_at]").fill("2030-01-15T09:00")
    page.get_by_role("button", name="Save").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Send now").click()
    assert page.get_by_text("Queued").first.is_visible()

    # The employee's email arrives through the worker; its link leads to the policy.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(employee.email in m.rcpt_tos for m in smtp_server.messages):
        time.sleep(0.2)
    mail = next(m for m in smtp_server.messages if employee.email in m.rcpt_tos)
    assert mail.subject == "Please read: mail away from the office"
    link = re.search(r"http://\S+/policies/\d+/", mail.text()).group(0)
    assert link in mail.html()

    employee_page = new_page()
    employee_page.goto(link)
    browser_sign_in(employee_page, employee, goto=None, wait_for=link)
    assert employee_page.get_by_role("heading", name="Reading mail away from the office").is_visible()
    employee_page.get_by_role("button", name="I have read and understood version 1").click()
    employee_page.wait_for_url("**/policies/")
    assert employee_page.get_by_text("you acknowledged version 1").is_visible()

    # The executive sees the new rate: 1 of the 3 people in the audience.
    executive_page = new_page()
    executive_page.goto("/policies/summary/")
    browser_sign_in(executive_page, executive, goto=None, wait_for="**/policies/summary/")
    assert executive_page.locator("#overall-rate").inner_text() == "33.3 %"
    row = executive_page.get_by_role("row", name=re.compile("^Reading mail away from the office v1"))
    assert "1 / 3" in row.inner_text()
