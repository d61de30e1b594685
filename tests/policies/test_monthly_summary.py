"""The monthly summary email: once per executive and month whatever the ticks do, none for those who opted
out, a readable text part with the change since last month, and a stop link that works signed out."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.roles import Role
from policies import dispatch, monthly
from policies.models import MonthlySummary, SummaryEmailOptOut, SummaryMailing

pytestmark = pytest.mark.django_db

ZONE = ZoneInfo("UTC")
FIRST_OF_MARCH = dt.datetime(2026, 3, 1, 8, 0, tzinfo=ZONE)


@pytest.fixture
def executives(make_user, settings):
    settings.TIME_ZONE = "UTC"
    return [
        make_user("eve@example.com", role=Role.EXECUTIVE, first_name="Eve"),
        make_user("max@example.com", role=Role.EXECUTIVE, first_name="Max"),
    ]


def summary_mail(sent_mail) -> list:
    return [m for m in sent_mail if m.subject.startswith("Security summary for")]


def test_each_executive_gets_it_once_a_month_even_when_the_tick_runs_twice(executives, employee, sent_mail):
    with time_machine.travel(FIRST_OF_MARCH - dt.timedelta(minutes=1), tick=False):
        assert dispatch.tick()["monthly_summaries"] == 0  # 07:59 on the first: not yet
    with time_machine.travel(FIRST_OF_MARCH, tick=False):
        assert dispatch.tick()["monthly_summaries"] == 2
        assert dispatch.tick()["monthly_summaries"] == 0
    with time_machine.travel(FIRST_OF_MARCH + dt.timedelta(days=12), tick=False):
        assert monthly.claim_monthly_summaries(dt.datetime.now(tz=ZONE)) == []
    mails = summary_mail(sent_mail)
    assert sorted(m.to[0] for m in mails) == ["eve@example.com", "max@example.com"]  # not the employee
    assert SummaryMailing.objects.filter(month=dt.date(2026, 3, 1), claimed_at__isnull=False).count() == 2
    with time_machine.travel(FIRST_OF_MARCH + dt.timedelta(days=31), tick=False):  # 1 April, 08:00
        assert dispatch.tick()["monthly_summaries"] == 2
    assert len(summary_mail(sent_mail)) == 4


def test_a_mailing_another_tick_claimed_is_not_sent_again(executives, sent_mail):
    eve, max_ = executives
    # Another tick made both rows and claimed Eve's, then died before sending Max's.
    SummaryMailing.objects.create(user=eve, month=dt.date(2026, 3, 1), claimed_at=FIRST_OF_MARCH)
    SummaryMailing.objects.create(user=max_, month=dt.date(2026, 3, 1))
    with time_machine.travel(FIRST_OF_MARCH + dt.timedelta(minutes=1), tick=False):
        rows = monthly.claim_monthly_summaries(dt.datetime.now(tz=ZONE))
    assert [row.to for row in rows] == [["max@example.com"]]
    assert [m.to for m in summary_mail(sent_mail)] == [["max@example.com"]]


def test_people_who_opted_out_get_none(executives, sent_mail):
    eve, _ = executives
    monthly.opt_out(eve, via="test")
    with time_machine.travel(FIRST_OF_MARCH, tick=False):
        dispatch.tick()
    assert [m.to for m in summary_mail(sent_mail)] == [["max@example.com"]]
    assert not SummaryMailing.objects.filter(user=eve).exists()


def test_the_text_part_is_readable_with_the_change_since_last_month(executives, make_policy, sent_mail):
    eve, _max = executives
    policy = make_policy("Remote access")
    policy.acknowledge(eve, ip_address=None, user_agent="")
    MonthlySummary.objects.create(
        month=dt.date(2026, 2, 1),
        figures={
            "Policies acknowledged": 40.0,
            "People with one-time passwords": None,
            "Reviews and procedures past their date": 1,
        },
    )
    with time_machine.travel(FIRST_OF_MARCH, tick=False):
        dispatch.tick()
    mail = next(m for m in summary_mail(sent_mail) if m.to == ["eve@example.com"])
    assert mail.subject == "Security summary for March 2026: 50.0 % of policies acknowledged (below target)"
    text = mail.body
    assert "Hello Eve," in text
    assert "Policies acknowledged: 50.0 % (target 95 %)\n  Below target; up 10 points since last month." in text
    late = "Reviews and procedures past their date: 0 (target 0)\n  Nothing past its date; down 1 since last month."
    assert late in text
    assert "People with one-time passwords:" in text and "no figure to compare since last month" in text
    assert "- Remote access: 1 person (50.0 % done)" in text
    assert "The block lists have not been checked yet" in text  # the mail server in plain words
    assert "<" not in text and "&amp;" not in text and "&#x27;" not in text  # plain text, not HTML
    link = reverse("policies:summary_unsubscribe", args=[monthly.unsubscribe_token(eve)])
    assert text.rstrip().endswith(link)
    html = mail.alternatives[0][0]
    assert "Below target" in html and "Up 10 points since last month" in html


def test_the_first_month_says_there_is_nothing_to_compare_yet(executives, sent_mail):
    with time_machine.travel(FIRST_OF_MARCH, tick=False):
        dispatch.tick()
    assert "This is the first monthly summary" in summary_mail(sent_mail)[0].body
    assert MonthlySummary.objects.get(month=dt.date(2026, 3, 1)).figures["Policies acknowledged"] is None


def test_the_stop_link_works_signed_out_asks_first_and_is_audited(client, executives):
    eve, _ = executives
    url = reverse("policies:summary_unsubscribe", args=[monthly.unsubscribe_token(eve)])
    response = client.get(url)
    assert response.status_code == 200 and b"Stop the monthly email" in response.content
    assert monthly.wants_email(eve)  # a mail scanner following the link changes nothing
    response = client.post(url)
    assert b"will no longer get the monthly security summary" in response.content
    assert SummaryEmailOptOut.objects.filter(user=eve).exists()
    event = AuditEvent.objects.get(action="policies.summary_email_stopped")
    assert event.details["via"] == "email link"
    bad = reverse("policies:summary_unsubscribe", args=[monthly.unsubscribe_token(eve) + "x"])
    assert client.get(bad).status_code == 404


def test_an_executive_stops_and_resumes_it_on_the_summary_page(client, login, executives):
    eve, _ = executives
    login(client, eve)
    assert b"Stop the monthly email" in client.get("/policies/summary/").content
    client.post(reverse("policies:summary_email"), {"monthly": "off"})
    assert not monthly.wants_email(eve)
    assert b"Email it to me monthly" in client.get("/policies/summary/").content
    client.post(reverse("policies:summary_email"), {"monthly": "on"})
    assert monthly.wants_email(eve)
    actions = AuditEvent.objects.filter(action__startswith="policies.summary_email").order_by("pk")
    assert [event.action for event in actions] == ["policies.summary_email_stopped", "policies.summary_email_resumed"]
