"""OTP coverage: enrolled, pending inside the grace period, overdue after it; constant queries; page and CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.coverage import otp_coverage
from accounts.models import OrganisationSettings, User


def people(make_user, n, prefix="p", enrolled=False, joined_days_ago=0):
    users = []
    for i in range(n):
        user = make_user(f"{prefix}{i}@example.com")
        User.objects.filter(pk=user.pk).update(otp_grace_start=timezone.now() - timedelta(days=joined_days_ago))
        if enrolled:
            TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
        users.append(user)
    return users


def test_it_counts_enrolled_pending_and_overdue(make_user):
    people(make_user, 3, "e", enrolled=True, joined_days_ago=30)
    people(make_user, 2, "p", joined_days_ago=2)
    people(make_user, 1, "o", joined_days_ago=8)
    inactive = make_user("gone@example.com")
    inactive.is_active = False
    inactive.save()
    # An unconfirmed token is not enrolment.
    TOTPDevice.objects.create(user=User.objects.get(email="p0@example.com"), name="Half", confirmed=False)
    coverage = otp_coverage()
    assert {k: coverage[k] for k in ("total", "enrolled", "pending", "overdue", "none", "not_enrolled")} == {
        "total": 6,
        "enrolled": 3,
        "pending": 2,
        "overdue": 1,
        "none": 0,
        "not_enrolled": 3,
    }
    assert coverage["percent"] == 50.0


def test_pending_turns_overdue_when_the_grace_period_ends(make_user):
    (user,) = people(make_user, 1)
    deadline = user.otp_grace_start + timedelta(days=7)
    with time_machine.travel(deadline - timedelta(seconds=1), tick=False):
        assert otp_coverage()["pending"] == 1
    with time_machine.travel(deadline + timedelta(seconds=1), tick=False):
        assert otp_coverage()["overdue"] == 1


def test_without_the_requirement_nobody_is_overdue(make_user):
    people(make_user, 2, joined_days_ago=30)
    org = OrganisationSettings.load()
    org.otp_required = False
    org.save()
    coverage = otp_coverage()
    assert (coverage["pending"], coverage["overdue"], coverage["none"]) == (0, 0, 2)


def test_it_takes_the_same_number_of_queries_for_5_or_50_people(make_user):
    OrganisationSettings.load()
    people(make_user, 5, "a", enrolled=True)
    with CaptureQueriesContext(connection) as few:
        otp_coverage()
    people(make_user, 45, "b", joined_days_ago=10)
    with CaptureQueriesContext(connection) as many:
        otp_coverage()
    assert len(few) == len(many) == 2


def test_an_empty_organisation_is_zero_percent(db):
    assert otp_coverage()["percent"] == 0.0


def test_the_page_lists_who_is_pending_or_overdue_and_exports_csv(client, login, it_staff, make_user):
    people(make_user, 1, "late", joined_days_ago=9)
    people(make_user, 1, "new", joined_days_ago=1)
    login(client, it_staff)
    page = client.get(reverse("otp_coverage"))
    statuses = {u.email: u.otp_status for u in page.context["not_enrolled"]}
    assert statuses == {"late0@example.com": "overdue", "new0@example.com": "pending"}
    response = client.get(reverse("otp_coverage_csv"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["email"]: r["otp_status"] for r in rows} == {
        "ivan@example.com": "enrolled",
        "late0@example.com": "overdue",
        "new0@example.com": "pending",
    }
