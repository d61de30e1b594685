"""People as IT staff see them, and who gets IT alerts.

The user list: users with OTP status and lockout, filtered, in a constant number of queries.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.coverage import status_filter, users_with_enrolment
from accounts.models import AccountLock, OrganisationSettings, User
from accounts.roles import Role
from portal.spreadsheets import safe_cell


def it_alert_recipients() -> list[str]:
    """Who gets IT alerts by email: active IT staff with an accepted account and an email address.

    "Accepted": the person has a usable password (an imported or invited user gets one only by accepting
    the invitation), so nobody is alerted at an address that never confirmed it belongs to them. The outbox
    asks this through ``portal.outbox.it_alert_recipients()`` (registered in ``AccountsConfig.ready()``).
    """
    users = accepted_users().filter(role=Role.IT_STAFF)
    return sorted(set(users.values_list("email", flat=True)))


def accepted_users() -> QuerySet[User]:
    """Active people with an accepted account (a usable password or an accepted invitation) and an address:
    the only ones the portal sends its own messages to, such as IT alerts and the monthly summary."""
    accepted = ~Q(password__startswith=UNUSABLE_PASSWORD_PREFIX) | Q(invitations__accepted_at__isnull=False)
    return User.objects.filter(accepted, is_active=True).exclude(email="").distinct()


def annotated_users(org: OrganisationSettings) -> QuerySet[User]:
    locked = AccountLock.objects.filter(email=OuterRef("canonical_email"), locked_until__gt=timezone.now())
    return users_with_enrolment().select_related("department").annotate(locked=Exists(locked))


def filtered_users(data: dict, org: OrganisationSettings) -> QuerySet[User]:
    users = annotated_users(org)
    if q := (data.get("q") or "").strip():
        users = users.filter(Q(email__icontains=q) | Q(first_name__icontains=q) | Q(last_name__icontains=q))
    if role := data.get("role"):
        users = users.filter(role=role)
    if department := data.get("department"):
        users = users.filter(department=department)
    if status := data.get("otp"):
        users = users.filter(status_filter(status, org))
    if data.get("locked"):
        users = users.filter(locked=True)
    return users.order_by("email")


class Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[list[object]]) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([safe_cell(v) for v in row])
