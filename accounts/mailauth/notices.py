"""Emails about mail logins: the guessing alert to IT staff and the transition reminders to people.

Each is a queued row with a unique key (``accounts.emails.queue``), so the verifier or the tick may
call these twice without anyone getting two emails.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from accounts import emails
from accounts.models import User
from accounts.roles import Role


def _it_staff() -> list[str]:
    return list(
        User.objects.filter(role=Role.IT_STAFF, is_active=True).order_by("email").values_list("email", flat=True)
    )


def send_refusal_alert(alert) -> None:
    """Many refused mail logins for one person within minutes: someone may be guessing the password."""
    recipients = _it_staff()
    if not recipients:
        return
    window = int(alert.at // (alert.minutes * 60))
    person = User.objects.filter(pk=alert.user_id).first()
    emails.queue(
        "mail-refusals",
        f"mail-refusals:{alert.user_id}:{window}",
        recipients,
        {
            "person": person,
            "email": alert.email,
            "count": alert.count,
            "minutes": alert.minutes,
            "addresses": alert.addresses,
            "when": datetime.fromtimestamp(alert.at, tz=UTC),
            "user_path": emails.absolute(f"/accounts/users/{alert.user_id}/") if person else "",
        },
    )


def send_mailbox_password_reminder(user: User, *, until: date, days_left: int, step: int) -> None:
    from django.urls import reverse

    emails.queue(
        "mailbox-password-reminder",
        f"mailbox-password-reminder:{user.pk}:{until.isoformat()}:{step}",
        [user.email],
        {"user": user, "until": until, "days_left": days_left, "devices_url": emails.absolute(reverse("devices"))},
    )
