"""One function per kind of email this area sends; templates in templates/emails/policies-*."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import strip_tags


def absolute(path: str) -> str:
    return f"{settings.PORTAL_BASE_URL}{path}"


def _message(
    name: str, ctx: dict, to: list[str], cc: list[str] | None = None, message_id: str = ""
) -> EmailMultiAlternatives:
    ctx = {"organisation_name": settings.ORGANISATION_NAME, **ctx}
    subject = " ".join(render_to_string(f"emails/{name}-subject.txt", ctx).split())
    text = render_to_string(f"emails/{name}-body.txt", ctx)
    html = render_to_string(f"emails/{name}-body.html", ctx)
    headers = {"Message-ID": message_id} if message_id else {}
    email = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, to, cc=cc or [], headers=headers)
    email.attach_alternative(html, "text/html")
    return email


def _domain() -> str:
    return settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"


def campaign_link(campaign) -> str:
    if campaign.kind == campaign.Kind.ATTESTATION:
        return absolute(reverse("policies:attest", args=[campaign.pk]))
    if campaign.policy_id:
        return absolute(reverse("policies:read", args=[campaign.policy_id]))
    return absolute(reverse("policies:mine"))


def campaign_email(delivery, *, message_html: str, cc: list[str] | None = None) -> EmailMultiAlternatives:
    """The reminder for one Delivery. Its Message-ID is stable, so a mail client shows a resend as the same mail."""
    campaign = delivery.campaign
    ctx = {
        "campaign": campaign,
        "recipient": delivery.recipient,
        "message_html": message_html,
        "message_text": campaign.message,
        "link": campaign_link(campaign),
        "escalated": bool(cc),
        "test": False,
    }
    message_id = f"<policies-delivery-{delivery.pk}@{_domain()}>"
    return _message("policies-campaign", ctx, [delivery.recipient.email], cc=cc, message_id=message_id)


def campaign_test_email(campaign, user) -> EmailMultiAlternatives:
    ctx = {
        "campaign": campaign,
        "recipient": user,
        "message_html": campaign.message_html(),
        "message_text": campaign.message,
        "link": campaign_link(campaign),
        "escalated": False,
        "test": True,
    }
    return _message("policies-campaign", ctx, [user.email])


def review_digest_email(digest, *, policies: list, procedures: list, today) -> EmailMultiAlternatives:
    ctx = {
        "owner": digest.owner,
        "policies": policies,
        "procedures": procedures,
        "today": today,
        "reviews_link": absolute(reverse("policies:reviews")),
        "base_url": settings.PORTAL_BASE_URL,
    }
    message_id = f"<policies-digest-{digest.pk}@{_domain()}>"
    return _message("policies-review-digest", ctx, [digest.owner.email], message_id=message_id)


def plain(html: str) -> str:
    return strip_tags(html)
