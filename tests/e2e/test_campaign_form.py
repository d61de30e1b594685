"""In Chromium: the campaign form shows only what the chosen kind and schedule need, and takes the portal's
date format."""

from __future__ import annotations

import pytest

from policies.models import Campaign

pytestmark = pytest.mark.e2e


def test_the_form_shows_what_the_choice_needs(page, browser_sign_in, it_staff):
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    browser_sign_in(page, it_staff)
    page.goto("/policies/campaigns/new/")
    statements, interval = page.get_by_label("Attestation statements"), page.get_by_label("Interval")
    assert not statements.is_visible() and not interval.is_visible()
    assert not page.get_by_label("Only unacknowledged").is_visible()
    page.get_by_label("Kind").select_option("attestation")
    page.get_by_label("Repeat").select_option("weeks")
    assert statements.is_visible() and interval.is_visible()

    page.get_by_label("Name").fill("Devices")
    page.get_by_label("Subject").fill("Monthly check")
    page.get_by_label("Message").fill("Two questions.")
    statements.fill("My laptop has current updates.\nI installed no unapproved software.")
    interval.fill("2")
    page.get_by_label("First sending").fill("15 Jan 2030, 09:00")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/policies/campaigns/*/")
    campaign = Campaign.objects.get()
    assert (campaign.kind, campaign.repeat, campaign.interval) == ("attestation", "weeks", 2)
    assert campaign.statements.count() == 2
    assert errors == []
