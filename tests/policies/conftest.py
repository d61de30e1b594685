from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone


@pytest.fixture
def make_policy(db):
    from policies.models import Policy

    def make(title: str = "Remote access", publish: bool = True, body: str = "Use **webmail**.", **extra) -> Policy:
        roles = extra.pop("audience_roles", [])
        departments = extra.pop("audience_departments", [])
        policy = Policy.objects.create(title=title, summary="In short.", body=body, audience_roles=roles, **extra)
        if departments:
            policy.audience_departments.set(departments)
        if publish:
            policy.publish(by=None, require_acknowledgement=True)
        return policy

    return make


@pytest.fixture
def make_campaign(db):
    from policies.models import Campaign

    def make(name: str = "Reminder", **extra) -> Campaign:
        departments = extra.pop("audience_departments", [])
        extra.setdefault("starts_at", timezone.now() - dt.timedelta(minutes=1))
        extra.setdefault("subject", "Please read the remote-access policy")
        extra.setdefault("message", "Use **webmail** away from the office.")
        campaign = Campaign(name=name, **extra)
        campaign.next_run_at = extra.get("next_run_at", campaign.starts_at)
        campaign.save()
        if departments:
            campaign.audience_departments.set(departments)
        return campaign

    return make
