"""OTP enrolment coverage, for the IT staff coverage page and the executive summary."""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User


def otp_coverage() -> dict:
    """Counts over active users, in a constant number of queries.

    Keys: total, enrolled, pending (no confirmed token yet), percent (enrolled / total).
    """
    confirmed = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    users = User.objects.filter(is_active=True).annotate(enrolled=Exists(confirmed))
    total = users.count()
    enrolled = users.filter(enrolled=True).count()
    return {
        "total": total,
        "enrolled": enrolled,
        "pending": total - enrolled,
        "percent": round(100 * enrolled / total, 1) if total else 0.0,
    }
