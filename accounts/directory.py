"""The IT staff view of people: users with OTP status and lockout, filtered, in a constant number of queries."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.coverage import status_filter, users_with_enrolment
from accounts.models import OrganisationSettings, SignInFailure, User


def annotated_users(org: OrganisationSettings) -> QuerySet[User]:
    recent_failures = (
        SignInFailure.objects.filter(email=OuterRef("email"), created_at__gt=timezone.now() - org.lockout_window)
        .order_by()
        .values("email")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        users_with_enrolment()
        .select_related("department")
        .annotate(recent_failures=Coalesce(Subquery(recent_failures, output_field=IntegerField()), Value(0)))
    )


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
        users = users.filter(recent_failures__gte=org.lockout_threshold)
    return users.order_by("email")


def csv_safe(value: object) -> str:
    """Spreadsheet programs run cells starting with = + - @ as formulas: neutralise them."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[list[object]]) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_safe(v) for v in row])
