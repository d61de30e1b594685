"""OTP enrolment coverage, for the IT staff coverage page and the executive summary."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import OrganisationSettings, User

STATUSES = ["enrolled", "pending", "overdue", "none"]


def _has_confirmed_token() -> Exists:
    return Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))


def users_with_enrolment() -> QuerySet[User]:
    """Active users annotated with ``enrolled`` (has a confirmed token), one query however many there are."""
    return User.objects.filter(is_active=True).annotate(enrolled=_has_confirmed_token())


def status_filter(status: str, org: OrganisationSettings, now: datetime | None = None) -> Q:
    """A filter on users for one OTP status (see ``enrolment.otp_status``)."""
    now = now or timezone.now()
    enrolled = Q(_has_confirmed_token())
    deadline_passed = Q(otp_grace_start__lte=now - org.grace_period)
    if status == "enrolled":
        return enrolled
    if not org.otp_required:
        return ~enrolled if status == "none" else Q(pk__in=[])
    return {
        "pending": ~enrolled & ~deadline_passed,
        "overdue": ~enrolled & deadline_passed,
    }.get(status, Q(pk__in=[]))


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
    if user.enrolled:
        return "enrolled"
    if not org.otp_required:
        return "none"
    now = now or timezone.now()
    return "overdue" if user.otp_grace_start + org.grace_period <= now else "pending"


def deadline(user: User, org: OrganisationSettings) -> datetime:
    return user.otp_grace_start + org.grace_period
