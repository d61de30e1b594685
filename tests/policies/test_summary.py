from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Department, User
from policies import summary
from policies.models import Acknowledgement, AttestationAnswer, AttestationResponse, Campaign, Procedure

pytestmark = pytest.mark.django_db


def organisation(size: int, policies: int, make_policy) -> None:
    """``size`` people in two departments, ``policies`` published policies, about half acknowledged."""
    sales, ops = Department.objects.get_or_create(name="Sales")[0], Department.objects.get_or_create(name="Ops")[0]
    start = User.objects.count()
    User.objects.bulk_create(
        User(email=f"user{start + i}@example.com", department=sales if i % 2 else ops) for i in range(size)
    )
    users = list(User.objects.all())
    for n in range(policies):
        policy = make_policy(f"Policy {n}", audience_departments=[sales] if n % 3 == 0 else [])
        Acknowledgement.objects.bulk_create(
            Acknowledgement(user=user, policy=policy, version=policy.current_version, version_number=1)
            for user in users[::2]
        )
    campaign = Campaign.objects.create(
        name=f"Devices {size}", kind="attestation", subject="s", message="m", starts_at=timezone.now()
    )
    statement = campaign.statements.create(text="Updates are current")
    for user in users[:3]:
        response = AttestationResponse.objects.create(campaign=campaign, user=user)
        AttestationAnswer.objects.create(response=response, statement=statement, answer=user.pk % 2 == 0)
    Procedure.objects.create(title=f"Overdue {size}", next_due_on=timezone.localdate() - dt.timedelta(days=3))


def queries_for(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/policies/summary/")
    assert response.status_code == 200
    return len(captured)


def test_the_summary_query_count_does_not_grow_with_users_or_policies(client, login, executive, make_policy):
    login(client, executive)
    organisation(5, 2, make_policy)
    queries_for(client)  # the first request creates the settings row
    small = queries_for(client)
    with CaptureQueriesContext(connection) as small_build:
        summary.build()
    organisation(60, 8, make_policy)
    assert User.objects.count() > 60
    assert queries_for(client) == small
    with CaptureQueriesContext(connection) as large_build:
        summary.build()
    assert len(large_build) == len(small_build)


def test_the_summary_shows_rates_people_and_the_chart(client, login, executive, employee, it_staff, make_policy):
    policy = make_policy("Remote access")
    policy.acknowledge(employee, ip_address=None, user_agent="")
    login(client, executive)
    response = client.get("/policies/summary/")
    s = response.context["s"]
    assert (s.overall.required, s.overall.acknowledged) == (3, 1)
    assert s.policy_rates[0].percent == 33.3
    assert {r.label: r.percent for r in s.department_rates} == {"Operations": 0.0, "Sales": 100.0}
    assert {p.email for p in s.outstanding} == {executive.email, it_staff.email}
    assert s.otp is not None and s.otp["total"] == 3
    assert s.trend[-1][1] == 33.3 and len(s.trend) == summary.TREND_WEEKS
    body = response.content.decode()
    assert "<svg" in body and "<polyline" in body and "<script" not in body.split("</footer>")[0]
    assert "css/print.css" in body and 'media="print"' in body
    assert "33.3%" in body


def test_the_summary_exports_csv(client, login, it_staff, employee, make_policy):
    make_policy("=HYPERLINK(evil)")
    login(client, it_staff)
    response = client.get("/policies/summary.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert ["'=HYPERLINK(evil)", "2", "0", "0.0"] in rows
    assert any(row[:1] == ["Outstanding person"] for row in rows)
    assert any(row[:1] == [employee.get_full_name()] for row in rows)


def test_employees_cannot_read_the_summary(client, login, employee):
    login(client, employee)
    assert client.get("/policies/summary/").status_code == 403
    assert client.get("/policies/summary.csv").status_code == 403


def test_monitoring_status_lines_are_shown_one_per_area(client, login, executive, monkeypatch):
    from monitoring import status

    line = status.StatusLine("DNS block lists", "warning", "Listed on one of 6 lists.", "no-such-url")
    monkeypatch.setattr(status, "PROVIDERS", [lambda: line])
    login(client, executive)
    body = client.get("/policies/summary/").content.decode()
    assert "DNS block lists" in body and "Listed on one of 6 lists." in body


def test_campaign_activity_counts_uncertain_deliveries_apart_from_sent_and_pending(make_user):
    from policies.models import CampaignRun, Delivery

    campaign = Campaign.objects.create(name="Remote", subject="s", message="m", starts_at=timezone.now())
    run = CampaignRun.objects.create(campaign=campaign, occurrence=timezone.now())
    for n, status in enumerate(["sent", "sent", "uncertain", "pending"]):
        user = make_user(f"u{n}@example.com")
        Delivery.objects.create(campaign=campaign, run=run, recipient=user, occurrence=run.occurrence, status=status)
    (activity,) = summary.campaign_activity(timezone.now())
    assert (activity.sent, activity.uncertain, activity.pending, activity.failed) == (2, 1, 1, 0)
