"""The monthly summary email to executives: the summary's figures and the change since last month.

The minute tick (``policies.dispatch.tick``) calls ``claim_monthly_summaries``. From 08:00 on the first day
of a month (the organisation's time zone) it makes one ``SummaryMailing`` row per executive for that month
(a unique constraint: two ticks make one), claims each with a conditional update of ``claimed_at`` and puts
the email in the outbox in the same transaction (a tick that dies in between leaves the row unclaimed for
the next one); the outbox key (person and month) would also refuse a second email. Someone
who becomes an executive later in the month gets that month's email at the next tick.

Opting out (``SummaryEmailOptOut``) is per person: from the signed link at the bottom of every email, or on
the summary page; both are audited.
"""

from __future__ import annotations

import datetime as dt

from django.core import signing
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.audit import record
from accounts.directory import accepted_users
from accounts.roles import Role
from policies import emails, summary
from policies.models import MonthlySummary, SummaryEmailOptOut, SummaryMailing, organisation_zone

SEND_HOUR = 8  # local time on the first day of the month
UNSUBSCRIBE_SALT = "policies.monthly-summary.unsubscribe"


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def previous_month(month: dt.date) -> dt.date:
    return month_of(month - dt.timedelta(days=1))


def recipients():
    """Executives with an accepted account who have not opted out."""
    return accepted_users().filter(role=Role.EXECUTIVE, summary_opt_out__isnull=True)


def figures(data: summary.Summary) -> dict[str, float | None]:
    return {headline.title: headline.number for headline in data.headlines}


def changes(now: dict, before: dict | None) -> dict[str, str]:
    """Each headline's change since last month in words ("up 2.5 points", "no change", "down 1")."""
    if before is None:
        return {}
    words = {}
    for title, value in now.items():
        old = before.get(title)
        if value is None or old is None:
            words[title] = "no figure to compare"
            continue
        delta = round(value - old, 1)
        unit = " points" if title != summary.REVIEWS_LATE else ""
        if delta == 0:
            words[title] = "no change"
        else:
            words[title] = f"{'up' if delta > 0 else 'down'} {abs(delta):g}{unit}"
    return words


def claim_monthly_summaries(now: dt.datetime) -> list:
    """Send this month's summary email to every executive who has not had it (each once). Returns the rows."""
    local = timezone.localtime(now, organisation_zone())
    if local.day == 1 and local.hour < SEND_HOUR:
        return []
    month = month_of(local.date())
    # Everyone not yet sent this month's; a row made by a tick that died before claiming it is still due.
    claimed = SummaryMailing.objects.filter(user=OuterRef("pk"), month=month, claimed_at__isnull=False)
    people = list(recipients().exclude(Exists(claimed)).values_list("pk", flat=True))
    if not people:
        return []
    SummaryMailing.objects.bulk_create(
        [SummaryMailing(user_id=pk, month=month) for pk in people], ignore_conflicts=True
    )
    due = list(SummaryMailing.objects.filter(month=month, user_id__in=people, claimed_at__isnull=True))
    if not due:
        return []
    data = summary.build(now)
    snapshot, _ = MonthlySummary.objects.get_or_create(month=month, defaults={"figures": figures(data)})
    before = MonthlySummary.objects.filter(month=previous_month(month)).first()
    change = changes(snapshot.figures, before.figures if before else None)
    sent = []
    for mailing in due:
        with transaction.atomic():
            if not SummaryMailing.objects.filter(pk=mailing.pk, claimed_at__isnull=True).update(claimed_at=now):
                continue  # another tick took it
            mailing.refresh_from_db()
            row = emails.send_monthly_summary(
                mailing.user, data, change=change, month=month, unsubscribe_token=unsubscribe_token(mailing.user)
            )
        if row is not None:
            sent.append(row)
    return sent


# --- Opting out and back in ----------------------------------------------------------------------------


def unsubscribe_token(user) -> str:
    """A signed token naming the person: the email's link works without signing in and never expires (the
    same link in every month's email; it can do nothing but stop these emails)."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(str(user.pk))


def user_of_token(token: str):
    """The person a token names, or None for a forged, damaged or stale one."""
    from accounts.models import User

    try:
        pk = int(signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None
    return User.objects.filter(pk=pk, is_active=True).first()


def wants_email(user) -> bool:
    return not SummaryEmailOptOut.objects.filter(user=user).exists()


def opt_out(user, *, request=None, via: str) -> bool:
    """Stop the monthly email for ``user`` (audited); False when it was already stopped."""
    _, created = SummaryEmailOptOut.objects.get_or_create(user=user)
    if created:
        record("policies.summary_email_stopped", actor=user, target=user, request=request, via=via)
    return created


def opt_in(user, *, request=None, via: str) -> bool:
    """Send the monthly email to ``user`` again (audited); False when they already got it."""
    deleted, _ = SummaryEmailOptOut.objects.filter(user=user).delete()
    if deleted:
        record("policies.summary_email_resumed", actor=user, target=user, request=request, via=via)
    return bool(deleted)
