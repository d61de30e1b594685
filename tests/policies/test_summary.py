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
    assert "33.3 %" in body


def test_the_summary_exports_csv(client, login, it_staff, employee, make_policy):
    make_policy("=HYPERLINK(evil)")
    login(client, it_staff)
    response = client.get("/policies/summary.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert ["'=HYPERLINK(evil)", "2", "0", "0.0"] in rows
    assert any(row[:1] == ["Outstanding person"] for row in rows)
    assert ["Policies acknowledged", "0.0 %", "Target 95 %", "Below target"] in rows
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
    assert "DNS block lists" in body and "Listed on one of 6 lists." in body  # no plain sentence: the text


# --- Targets and states --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "target", "state"),
    [(None, 95, "unknown"), (95.0, 95, "ok"), (100.0, 95, "ok"), (94.9, 95, "warning"), (85.0, 95, "warning"),
     (84.9, 95, "critical"), (0.0, 95, "critical"), (99.0, 100, "warning"), (100.0, 100, "ok")],
)  # fmt: skip
def test_a_figure_is_green_at_its_target_amber_just_below_and_red_further_below(value, target, state):
    assert summary.target_state(value, target) == state


def headline(s, title: str) -> summary.Headline:
    return next(h for h in s.headlines if h.title == title)


def test_the_headlines_carry_their_targets_and_states_in_words(db, employee, executive, it_staff, make_policy):
    from accounts.models import OrganisationSettings

    policy = make_policy("Remote access")
    for person in (employee, executive):
        policy.acknowledge(person, ip_address=None, user_agent="")
    s = summary.build()
    acknowledged = headline(s, "Policies acknowledged")
    assert (acknowledged.value, acknowledged.target) == ("66.7 %", "Target 95 %")
    assert (acknowledged.state, acknowledged.words) == ("critical", "Below target")
    enrolled = headline(s, "People with one-time passwords")
    assert enrolled.target == "Target 100 %" and enrolled.words in {"Below target", "Close to target", "On target"}
    OrganisationSettings.store(acknowledged_target=60)
    acknowledged = headline(summary.build(), "Policies acknowledged")
    assert (acknowledged.state, acknowledged.words) == ("ok", "On target")
    OrganisationSettings.store(acknowledged_target=75)
    assert headline(summary.build(), "Policies acknowledged").words == "Close to target"


def test_nothing_to_acknowledge_is_grey_not_red(db, employee):
    acknowledged = headline(summary.build(), "Policies acknowledged")
    assert (acknowledged.state, acknowledged.words) == ("unknown", "No figures yet")
    assert acknowledged.value == summary.NO_FIGURE


def test_reviews_past_their_date_are_named_for_what_they_count(db):
    today = timezone.localdate()
    s = summary.build()
    late = headline(s, "Reviews and procedures past their date")
    assert (late.value, late.state, late.words) == ("0", "ok", "Nothing past its date")
    Procedure.objects.create(title="Restore test", next_due_on=today - dt.timedelta(days=3))
    late = headline(summary.build(), "Reviews and procedures past their date")
    assert (late.value, late.state) == ("1", "warning")
    assert late.explanation == "0 policy reviews and 1 maintenance procedure not done by the date they were due."
    Procedure.objects.create(title="Patch review", next_due_on=today - dt.timedelta(days=45))
    late = headline(summary.build(), "Reviews and procedures past their date")
    assert (late.value, late.state, late.words) == ("2", "critical", "1 more than a month late")


def test_outstanding_people_are_counted_per_policy_and_department_with_names_folded(
    client, login, executive, employee, it_staff, make_policy
):
    make_policy("Remote access")
    make_policy("Passwords")
    login(client, executive)
    response = client.get("/policies/summary/")
    s = response.context["s"]
    assert [len(rate.people) for rate in s.policy_rates] == [3, 3]
    assert sum(len(rate.people) for rate in s.department_rates) == 3  # people, not person x policy
    body = response.content.decode()
    assert body.count("<summary>3 people</summary>") == 2
    assert "Who is outstanding" not in body and ">Overdue<" not in body
    assert "Below target" in body and "Target 95 %" in body


def test_it_staff_see_the_technical_detail_and_executives_the_plain_sentence(client, login, executive, it_staff):
    login(client, executive)
    body = client.get("/policies/summary/").content.decode()
    assert "The block lists have not been checked yet" in body
    assert "No sweep has run yet." not in body and "Technical detail" not in body
    assert "Change the targets" not in body
    login(client, it_staff)
    body = client.get("/policies/summary/").content.decode()
    assert "Technical detail" in body and "No sweep has run yet." in body and "Change the targets" in body


def test_it_staff_set_the_targets_and_it_is_audited(client, login, it_staff, executive):
    from accounts.models import AuditEvent, OrganisationSettings

    login(client, it_staff)
    response = client.post("/policies/summary/targets/", {"acknowledged_target": "90", "enrolled_target": "98"})
    assert response.status_code == 302
    conf = OrganisationSettings.load()
    assert (conf.acknowledged_target, conf.enrolled_target) == (90, 98)
    event = AuditEvent.objects.get(action="policies.summary_targets_changed")
    assert event.details["after"] == {"acknowledged_target": 90, "enrolled_target": 98}
    response = client.post("/policies/summary/targets/", {"acknowledged_target": "120", "enrolled_target": "98"})
    assert response.status_code == 400 and OrganisationSettings.load().acknowledged_target == 90
    login(client, executive)
    assert client.post("/policies/summary/targets/", {"acknowledged_target": "10"}).status_code == 403


def test_campaign_activity_counts_uncertain_deliveries_apart_from_sent_and_pending(make_user):
    from policies.models import CampaignRun, Delivery

    campaign = Campaign.objects.create(name="Remote", subject="s", message="m", starts_at=timezone.now())
    run = CampaignRun.objects.create(campaign=campaign, occurrence=timezone.now())
    for n, status in enumerate(["sent", "sent", "uncertain", "pending"]):
        user = make_user(f"u{n}@example.com")
        Delivery.objects.create(campaign=campaign, run=run, recipient=user, occurrence=run.occurrence, status=status)
    (activity,) = summary.campaign_activity(timezone.now())
    assert (activity.sent, activity.uncertain, activity.pending, activity.failed) == (2, 1, 1, 0)
