"""The policies part of the home page."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.utils import timezone

from policies.models import Policy, Procedure, organisation_zone
from policies.services import my_policies, open_attestations


def home_context(request: HttpRequest) -> dict:
    user = request.user
    if not user.can("read_policies"):
        return {}
    rows = my_policies(user)
    ctx: dict = {
        "total": len(rows),
        "waiting": [row for row in rows if not row.acknowledged],
        "attestations": open_attestations(user),
        "show_summary": user.can("view_summary"),
        "reviews": None,
    }
    if user.can("manage_policies"):
        today = timezone.localdate(timezone=organisation_zone())
        horizon = today + dt.timedelta(days=30)
        published = Policy.objects.filter(state=Policy.State.PUBLISHED)
        ctx["reviews"] = published.filter(review_due_on__lte=horizon).count()
        ctx["procedures"] = Procedure.objects.filter(active=True, next_due_on__lte=horizon).count()
        ctx["overdue"] = (
            published.filter(review_due_on__lt=today).count()
            + Procedure.objects.filter(active=True, next_due_on__lt=today).count()
        )
    return ctx
