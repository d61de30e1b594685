"""The policies area's messages: one function per kind; templates in templates/emails/policies-*.

Campaign reminders are ``Delivery`` rows (counted per campaign, escalated) sent by the outbox's engine
(``portal.sending``); the test of a campaign and the weekly review digest are plain outbox messages.
"""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives
from django.utils.formats import date_format

from policies.markdown import render_markdown_text
from policies.models import REVIEW_WINDOW_DAYS
from portal.mailer import build_email, message_id
from portal.outbox import absolute_url, render, send_email


def campaign_link(campaign) -> str:
    if campaign.kind == campaign.Kind.ATTESTATION:
        return absolute_url("policies:attest", campaign.pk)
    if campaign.policy_id:
        return absolute_url("policies:read", campaign.policy_id)
    return absolute_url("policies:mine")


def _campaign_context(campaign, recipient, *, escalated: bool, test: bool) -> dict:
    return {
        "campaign": campaign,
        "recipient": recipient,
        "message_html": campaign.message_html(),
        "message_text": render_markdown_text(campaign.message),
        "link": campaign_link(campaign),
        "escalated": escalated,
        "test": test,
    }


def campaign_email(delivery, *, cc: list[str] | None = None) -> EmailMultiAlternatives:
    """The reminder for one Delivery. Its Message-ID is stable, so a mail client shows a resend as the same mail."""
    ctx = _campaign_context(delivery.campaign, delivery.recipient, escalated=bool(cc), test=False)
    rendered = render("policies-campaign", ctx)
    return build_email(
        rendered.subject,
        rendered.text,
        rendered.html,
        [delivery.recipient.email],
        cc=cc,
        message_id=message_id(f"policies-delivery-{delivery.pk}"),
    )


def send_campaign_test(campaign, user, event):
    """ "Send a test to me": not a Delivery (no occurrence, nobody else's count changes)."""
    ctx = _campaign_context(campaign, user, escalated=False, test=True)
    return send_email("policies-campaign", f"policies.campaign-test:{campaign.pk}:{event.pk}", [user.email], ctx)


def send_review_digest(owner, *, policies: list, procedures: list, today, week_of):
    """The weekly list of an owner's policies and procedures due for review (one per owner and week)."""
    ctx = {
        "owner": owner,
        "policies": [(policy, absolute_url("policies:read", policy.pk)) for policy in policies],
        "procedures": [(procedure, absolute_url("policies:procedure", procedure.pk)) for procedure in procedures],
        "today": today,
        "window": REVIEW_WINDOW_DAYS,
        "reviews_link": absolute_url("policies:reviews"),
    }
    key = f"policies.review-digest:{owner.pk}:{week_of.isoformat()}"
    return send_email("policies-review-digest", key, [owner.email], ctx)


def send_monthly_summary(person, data, *, change: dict[str, str], month, unsubscribe_token: str):
    """One executive's monthly summary: the headline figures with their targets and the change since last
    month, the mail server in plain sentences, and a link to stop these emails (one per person and month)."""
    ctx = {
        "person": person,
        "month": month,
        "month_name": date_format(month, "F Y"),  # a month, not a day: "March 2026"
        "headlines": [(headline, change.get(headline.title, "")) for headline in data.headlines],
        "first_month": not change,
        "status_lines": data.status_lines,
        "policy_rates": [rate for rate in data.policy_rates if rate.people],
        "summary_link": absolute_url("policies:summary"),
        "unsubscribe_link": absolute_url("policies:summary_unsubscribe", unsubscribe_token),
    }
    key = f"policies.monthly-summary:{person.pk}:{month:%Y-%m}"
    return send_email("policies-monthly-summary", key, [person.email], ctx)
