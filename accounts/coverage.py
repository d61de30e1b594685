"""The OTP-status rule and enrolment coverage, for the users list, the coverage page and the executive summary.

One rule, in two forms that must agree (a test checks): ``status()`` for one person in Python and
``status_filter()`` for the database. A person must have a token when the organisation's "OTP
required" is on, and IT staff always (they administer everyone else). Without a token such a person is
*pending* inside the grace period and *overdue* after it; anyone else without one is *none*.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import OrganisationSettings, User
from accounts.roles import Role

STATUSES = ["enrolled", "pending", "overdue", "none"]


def _has_confirmed_token() -> Exists:
    return Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))


def users_with_enrolment() -> QuerySet[User]:
    """Active users annotated with ``enrolled`` (has a confirmed token), one query however many there are."""
    return User.objects.filter(is_active=True).annotate(enrolled=_has_confirmed_token())


def otp_required_for(role: str, org: OrganisationSettings) -> bool:
    """Whether a person of ``role`` must have a token: IT staff always, others when the organisation says so."""
    return org.otp_required or role == Role.IT_STAFF


def status(*, enrolled: bool, role: str, grace_start: datetime, org: OrganisationSettings, now=None) -> str:
    """enrolled, none (no token and none required), pending (inside the grace period) or overdue."""
    if enrolled:
        return "enrolled"
    if not otp_required_for(role, org):
        return "none"
    now = now or timezone.now()
    return "overdue" if grace_start + org.grace_period <= now else "pending"


def status_filter(status: str, org: OrganisationSettings, now: datetime | None = None) -> Q:
    """The same rule as ``status()`` as a filter on users."""
    now = now or timezone.now()
    enrolled = Q(_has_confirmed_token())
    required = Q() if org.otp_required else Q(role=Role.IT_STAFF)
    deadline_passed = Q(otp_grace_start__lte=now - org.grace_period)
    filters = {
        "enrolled": enrolled,
        "none": Q(pk__in=[]) if org.otp_required else ~enrolled & ~required,
        "pending": ~enrolled & required & ~deadline_passed,
        "overdue": ~enrolled & required & deadline_passed,
    }
    return filters.get(status, Q(pk__in=[]))


def otp_coverage(now: datetime | None = None) -> dict:
    """Counts over active users, in a constant number of queries (settings row + one aggregate).

    Keys: total, enrolled, pending (no confirmed token, inside the grace period), overdue
    (no token, grace period over), none (no token while OTP is not required),
    not_enrolled (pending + overdue + none), percent (enrolled / total), otp_required,
    grace_period_days.
    """
    org = OrganisationSettings.load()
    counts = User.objects.filter(is_active=True).aggregate(
        total=Count("pk"),
        **{status: Count("pk", filter=status_filter(status, org, now)) for status in STATUSES},
    )
    total = counts["total"]
    return {
        **counts,
        "not_enrolled": total - counts["enrolled"],
        "percent": round(100 * counts["enrolled"] / total, 1) if total else 0.0,
        "otp_required": org.otp_required,
        "grace_period_days": org.grace_period_days,
    }


def status_of(user: User, org: OrganisationSettings, now: datetime | None = None) -> str:
    """The status of a user from ``users_with_enrolment()`` without another query."""
    return status(enrolled=user.enrolled, role=user.role, grace_start=user.otp_grace_start, org=org, now=now)


def deadline(user: User, org: OrganisationSettings) -> datetime:
    return user.otp_grace_start + org.grace_period
