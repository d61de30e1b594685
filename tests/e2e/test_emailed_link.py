"""In Chromium: a link from an email lands where it points, through sign-in, the OTP step and enrolment."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.utils import timezone
from django_otp.oath import TOTP

from policies.models import Campaign, CampaignRun, Delivery
from tests.e2e.test_pages_read import CHECKS, PHONE

pytestmark = pytest.mark.e2e


def _attestation_for(person) -> Campaign:
    campaign = Campaign.objects.create(
        name="Devices", kind=Campaign.Kind.ATTESTATION, subject="Monthly device check", message="Two questions.",
        starts_at=timezone.now() - dt.timedelta(days=1),
    )  # fmt: skip
    campaign.statements.create(text="My laptop has current updates.", position=0)
    run = CampaignRun.objects.create(campaign=campaign, occurrence=timezone.now())
    Delivery.objects.create(campaign=campaign, run=run, recipient=person, occurrence=run.occurrence, status="sent")
    return campaign


def _code(key_text: str) -> str:
    key = key_text.replace(" ", "")
    totp = TOTP(base64.b32decode(key + "=" * (-len(key) % 8)))
    return f"{totp.token():06d}"


def test_the_attestation_link_survives_sign_in_and_enrolment(new_page, browser_sign_in, it_staff):
    """On a phone, as someone opening the email there: every step also passes the page checks."""
    page = new_page(viewport=PHONE)
    problems = {}

    def check() -> None:
        if found := page.evaluate(CHECKS):
            problems[page.url] = found

    # IT staff must always have a token: signing in without one leads through enrolment.
    campaign = _attestation_for(it_staff)
    target = f"/policies/attest/{campaign.pk}/"
    page.goto(target)
    page.wait_for_url("**/accounts/login/**")
    browser_sign_in.password(page, it_staff.email, goto=None)
    page.wait_for_url("**/accounts/tokens/enrol/**")
    check()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url("**/enrol/scan/")
    check()
    assert (
        page.get_by_role("link", name="Add to authenticator app on this phone")
        .get_attribute("href")
        .startswith("otpauth://totp/")
    )
    key_text = page.locator("#otp-key").inner_text()
    page.get_by_role("link", name="Next: enter a code").click()
    check()
    page.get_by_label("Code from your app").fill(_code(key_text))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/tokens/backup-codes/")
    check()
    page.get_by_role("button", name="I have stored my backup codes").click()
    page.wait_for_url("**/accounts/tokens/enrol/done/")
    check()
    assert page.get_by_role("heading", name="You're all set").is_visible()
    page.get_by_role("link", name="Continue where you were going").click()
    page.wait_for_url(f"**{target}")
    assert page.get_by_role("heading", name="Monthly device check").is_visible()
    assert problems == {}


def test_the_link_survives_the_code_step(page, browser_sign_in, employee):
    campaign = _attestation_for(employee)
    target = f"/policies/attest/{campaign.pk}/"
    page.goto(target)
    page.wait_for_url("**/accounts/login/**")
    browser_sign_in(page, employee, goto=None, wait_for=f"**{target}")
    assert page.get_by_role("heading", name="Monthly device check").is_visible()
