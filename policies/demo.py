"""The policies part of the demo organisation: the starter library published, two campaigns, the procedures."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from policies import library
from policies.models import Campaign, Policy, Procedure, organisation_zone
from policies.schedules import Repeat


@transaction.atomic
def load() -> list[str]:
    """Load demo data (idempotent); return lines to print."""
    owner = User.objects.filter(role=Role.IT_STAFF, is_active=True).order_by("pk").first()
    adopted = set(Policy.objects.exclude(library_key="").values_list("library_key", flat=True))
    published = 0
    for entry in library.POLICIES:
        if entry.key in adopted:
            continue
        policy = library.adopt(entry, owner=owner)
        policy.publish(by=owner, require_acknowledgement=True, note="Adopted from the starter library")
        published += 1
    have = set(Procedure.objects.exclude(library_key="").values_list("library_key", flat=True))
    procedures = [library.adopt_procedure(e, owner=owner) for e in library.PROCEDURES if e.key not in have]
    campaigns = _campaigns(owner)
    lines = []
    if published or procedures or campaigns:
        lines.append(
            f"Policies: {published} starter policies published, {len(procedures)} procedures, {campaigns} campaigns."
        )
    return lines


def _campaigns(owner) -> int:
    zone = organisation_zone()
    today = timezone.localdate(timezone=zone)
    created = 0
    remote = Policy.objects.filter(library_key="remote-mail-access").first()
    if remote and not Campaign.objects.filter(name="Quarterly: mail away from the office").exists():
        campaign = Campaign(
            name="Quarterly: mail away from the office",
            subject="Reminder: use webmail with your one-time code when away from the office",
            message=(
                "Away from the office, please read and send company mail in the **webmail** "
                "(`https://` in the address bar) and sign in with your one-time code.\n\n"
                "Do not set up a mail program on a home computer to send through our server: a stolen "
                "password there puts our server on the block lists."
            ),
            policy=remote,
            only_unacknowledged=False,
            escalate_after=3,
            repeat=Repeat.QUARTERLY,
            starts_at=dt.datetime.combine(today + dt.timedelta(days=1), dt.time(9), tzinfo=zone),
            created_by=owner,
        )
        campaign.reschedule()
        campaign.save()
        created += 1
    if not Campaign.objects.filter(name="Monthly device check").exists():
        campaign = Campaign(
            name="Monthly device check",
            kind=Campaign.Kind.ATTESTATION,
            subject="Your monthly device check (one minute)",
            message="Three yes/no questions about the laptops and phones that read your company mail.",
            policy=Policy.objects.filter(library_key="device-hygiene").first(),
            repeat=Repeat.MONTHS,
            interval=1,
            starts_at=dt.datetime.combine(today.replace(day=1), dt.time(9), tzinfo=zone),
            created_by=owner,
        )
        campaign.reschedule()
        campaign.save()
        for position, text in enumerate(
            [
                "My laptop and phone that read company mail have current updates.",
                "Antivirus definitions on my laptop are current.",
                "I installed no unapproved software this month.",
            ]
        ):
            campaign.statements.create(text=text, position=position)
        created += 1
    return created
