"""The policies part of the home page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from policies.models import REVIEW_WINDOW_DAYS, due_for_review, organisation_zone
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
        policies, procedures = due_for_review(today)
        ctx["window"] = REVIEW_WINDOW_DAYS
        ctx["reviews"] = policies.count()
        ctx["procedures"] = procedures.count()
        ctx["overdue"] = (
            policies.filter(review_due_on__lt=today).count() + procedures.filter(next_due_on__lt=today).count()
        )
    return ctx
