from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from policies.models import Campaign, CampaignRun, Policy, Procedure, ProcedureCompletion

pytestmark = pytest.mark.django_db


def test_it_staff_write_publish_edit_and_republish_a_policy(client, login, it_staff):
    login(client, it_staff)
    response = client.post(
        "/policies/manage/new/",
        {"title": "Phishing", "category": "accounts", "summary": "Report it.", "body": "Do **not** click.",
         "owner": it_staff.pk, "review_interval_days": 365},
    )  # fmt: skip
    policy = Policy.objects.get()
    assert response["Location"] == f"/policies/{policy.pk}/"
    assert policy.state == Policy.State.DRAFT
    client.post(f"/policies/manage/{policy.pk}/publish/", {"note": "", "require_acknowledgement": "on"})
    policy.refresh_from_db()
    assert policy.state == Policy.State.PUBLISHED and policy.current_version.number == 1
    client.post(
        f"/policies/manage/{policy.pk}/edit/",
        {"title": "Phishing", "category": "accounts", "summary": "Report it.", "body": "Do **not** click links.",
         "owner": it_staff.pk, "review_interval_days": 180},
    )  # fmt: skip
    policy.refresh_from_db()
    assert policy.has_draft_changes and policy.current_version.body == "Do **not** click."
    assert policy.review_interval_days == 180
    client.post(f"/policies/manage/{policy.pk}/publish/", {"note": "Links", "require_acknowledgement": ""})
    policy.refresh_from_db()
    assert policy.current_version.number == 2 and policy.acknowledge_from_version == 1
    published = AuditEvent.objects.filter(action="policy.published")
    assert [e.details["version"] for e in published.order_by("pk")] == [1, 2]


def test_a_policy_form_with_bad_input_keeps_what_was_typed(client, login, it_staff):
    login(client, it_staff)
    response = client.post(
        "/policies/manage/new/",
        {"title": "", "category": "accounts", "summary": "S", "body": "B", "review_interval_days": 0},
    )
    assert response.status_code == 200 and Policy.objects.count() == 0
    assert response.context["form"].errors.keys() >= {"title", "review_interval_days"}
    assert b"\nB</textarea>" in response.content


def test_retire_and_review_are_audited(client, login, it_staff, make_policy):
    policy = make_policy()
    login(client, it_staff)
    client.post(f"/policies/manage/{policy.pk}/reviewed/")
    client.post(f"/policies/manage/{policy.pk}/retire/")
    policy.refresh_from_db()
    assert policy.state == Policy.State.RETIRED
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {"policy.reviewed", "policy.retired"}


def test_the_starter_library_adopts_an_editable_draft(client, login, it_staff):
    login(client, it_staff)
    assert b"HTTPS" in client.get("/policies/manage/library/").content
    response = client.post("/policies/manage/library/device-hygiene/adopt/")
    policy = Policy.objects.get()
    assert response["Location"] == f"/policies/manage/{policy.pk}/edit/"
    assert policy.state == Policy.State.DRAFT and policy.library_key == "device-hygiene"
    assert client.post("/policies/manage/library/nothing-here/adopt/").status_code == 404


def test_a_campaign_is_created_in_the_organisation_time_zone(client, login, it_staff, make_policy, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    policy = make_policy()
    login(client, it_staff)
    response = client.post(
        "/policies/campaigns/new/",
        {"name": "Quarterly", "kind": "awareness", "subject": "Read it", "message": "Please.", "policy": policy.pk,
         "only_unacknowledged": "on", "repeat": "quarterly", "interval": 1, "starts_at": "2030-01-15T09:00",
         "active": "on"},
    )  # fmt: skip
    campaign = Campaign.objects.get()
    assert response["Location"] == f"/policies/campaigns/{campaign.pk}/"
    assert campaign.starts_at == dt.datetime(2030, 1, 15, 8, 0, tzinfo=dt.UTC)  # 09:00 CET
    assert campaign.next_run_at == campaign.starts_at
    page = client.get(f"/policies/campaigns/{campaign.pk}/").content.decode()
    assert "Quarterly from 15 Jan 2030, at 09:00 (Europe/Berlin)" in page


def test_a_one_off_is_written_in_the_portal_format_without_an_interval(client, login, it_staff, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    login(client, it_staff)
    form = client.get("/policies/campaigns/new/").content.decode()
    assert 'type="datetime-local"' not in form and 'placeholder="e.g. 1 Dec 2026, 09:00"' in form
    assert 'data-shown-when="kind=attestation"' in form and 'data-shown-when="repeat=days,weeks,months"' in form
    data = {"name": "Once", "kind": "awareness", "subject": "Read it", "message": "Please.", "repeat": "once",
            "interval": "", "starts_at": "15 Jan 2030, 09:00", "active": "on"}  # fmt: skip
    response = client.post("/policies/campaigns/new/", data)
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and campaign.interval == 1
    assert campaign.starts_at == dt.datetime(2030, 1, 15, 8, 0, tzinfo=dt.UTC)
    edit = client.get(f"/policies/campaigns/{campaign.pk}/edit/").content.decode()
    assert 'value="15 Jan 2030, 09:00"' in edit
    data.update(repeat="weeks", starts_at="01/15/2030")
    response = client.post(f"/policies/campaigns/{campaign.pk}/edit/", data)
    errors = response.context["form"].errors
    assert errors["starts_at"] == ["Write the day and time as 1 Dec 2026, 09:00."]
    assert "interval" in errors


def test_an_attestation_campaign_needs_statements(client, login, it_staff):
    login(client, it_staff)
    data = {"name": "Devices", "kind": "attestation", "subject": "Check", "message": "Answer.", "repeat": "months",
            "interval": 1, "starts_at": "2030-01-01T09:00", "active": "on", "statements": ""}  # fmt: skip
    response = client.post("/policies/campaigns/new/", data)
    assert response.status_code == 200 and "statements" in response.context["form"].errors
    data["statements"] = "My laptop has current updates.\nAntivirus definitions are current.\n"
    client.post("/policies/campaigns/new/", data)
    assert list(Campaign.objects.get().statements.values_list("text", flat=True)) == [
        "My laptop has current updates.",
        "Antivirus definitions are current.",
    ]


def test_send_now_creates_a_manual_run_and_is_audited(client, login, it_staff, make_campaign):
    campaign = make_campaign(next_run_at=timezone.now() + dt.timedelta(days=3))
    login(client, it_staff)
    client.post(f"/policies/campaigns/{campaign.pk}/send-now/")
    run = CampaignRun.objects.get()
    assert run.manual and run.campaign == campaign
    assert AuditEvent.objects.filter(action="campaign.send_now").exists()
    campaign.refresh_from_db()
    assert campaign.next_run_at > timezone.now() + dt.timedelta(days=2)  # the schedule is unchanged


def test_the_campaign_page_shows_sent_pending_and_failed(client, login, it_staff, employee, make_campaign):
    from policies.models import Delivery

    campaign = make_campaign()
    run = CampaignRun.objects.create(campaign=campaign, occurrence=timezone.now())
    Delivery.objects.create(
        campaign=campaign, run=run, recipient=employee, occurrence=run.occurrence, status="failed",
        last_error="SMTPDataError: (451, b'Try again later')", attempts=5,
    )  # fmt: skip
    login(client, it_staff)
    page = client.get(f"/policies/campaigns/{campaign.pk}/")
    assert page.context["by_status"]["failed"] == 1
    assert b"Try again later" in page.content and b"Retry the failed ones" in page.content


def test_completing_a_procedure_records_the_steps_and_moves_the_due_date(client, login, it_staff):
    procedure = Procedure.objects.create(title="Bandwidth", interval_days=30, next_due_on=timezone.localdate())
    first = procedure.steps.create(text="Open the load dashboard", position=0)
    procedure.steps.create(text="Report to ISP if above 80 %", position=1)
    login(client, it_staff)
    empty = client.post(f"/policies/procedures/{procedure.pk}/", {})
    assert empty.status_code == 200 and ProcedureCompletion.objects.count() == 0
    client.post(f"/policies/procedures/{procedure.pk}/", {f"step_{first.pk}": "on", "notes": "Peak 45 %"})
    completion = ProcedureCompletion.objects.get()
    assert completion.completed_by == it_staff and completion.notes == "Peak 45 %"
    assert completion.steps == [
        {"text": "Open the load dashboard", "done": True},
        {"text": "Report to ISP if above 80 %", "done": False},
    ]
    procedure.refresh_from_db()
    assert procedure.next_due_on == timezone.localdate() + dt.timedelta(days=30)
    assert AuditEvent.objects.filter(action="procedure.completed").exists()


def test_a_procedure_is_written_as_a_checklist(client, login, it_staff):
    login(client, it_staff)
    client.post(
        "/policies/procedures/new/",
        {"title": "After patching", "description": "", "interval_days": 30, "owner": it_staff.pk,
         "next_due_on": "2030-01-01", "active": "on", "steps": "Check drift\n\nSend a test mail\n"},
    )  # fmt: skip
    procedure = Procedure.objects.get()
    assert list(procedure.steps.values_list("text", flat=True)) == ["Check drift", "Send a test mail"]


def test_a_retired_policy_is_not_edited_or_published_again(client, login, it_staff, make_policy):
    policy = make_policy()
    policy.retire()
    login(client, it_staff)
    assert client.get(f"/policies/manage/{policy.pk}/publish/")["Location"] == f"/policies/{policy.pk}/"
    assert client.post(f"/policies/manage/{policy.pk}/publish/", {"require_acknowledgement": "on"}).status_code == 302
    assert client.get(f"/policies/manage/{policy.pk}/edit/").status_code == 302
    assert policy.versions.count() == 1


def test_a_starter_procedure_is_adopted_with_its_steps(client, login, it_staff):
    from policies import library

    login(client, it_staff)
    assert b"Review mail-server bandwidth" in client.get("/policies/manage/library/").content
    response = client.post("/policies/manage/library/procedures/bandwidth-review/adopt/")
    procedure = Procedure.objects.get()
    assert response["Location"] == f"/policies/procedures/{procedure.pk}/edit/"
    assert procedure.owner == it_staff and procedure.interval_days == 30
    assert tuple(procedure.steps.values_list("text", flat=True)) == library.PROCEDURES_BY_KEY["bandwidth-review"].steps


def test_escalation_needs_something_to_wait_for(client, login, it_staff):
    login(client, it_staff)
    data = {"name": "Tips", "kind": "awareness", "subject": "Tip", "message": "A tip.", "repeat": "weeks",
            "interval": 1, "starts_at": "2030-01-01T09:00", "active": "on", "escalate_after": 3}  # fmt: skip
    response = client.post("/policies/campaigns/new/", data)
    assert "escalate_after" in response.context["form"].errors
    assert Campaign.objects.count() == 0


@pytest.mark.parametrize("url", ["/policies/campaigns/", "/policies/manage/", "/policies/procedures/",
                                 "/policies/reviews/", "/policies/"])  # fmt: skip
def test_lists_do_not_query_per_row(client, login, it_staff, make_campaign, make_policy, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add(n: int) -> None:
        policy = make_policy(f"Policy {n}", owner=it_staff)
        policy.review_due_on = timezone.localdate()
        policy.save()
        make_campaign(f"Campaign {n}", repeat="weeks", policy=policy)
        procedure = Procedure.objects.create(title=f"Procedure {n}", owner=it_staff, next_due_on=timezone.localdate())
        procedure.complete(by=it_staff, ticked=set(), notes="done")

    login(client, it_staff)
    add(0)
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    for n in range(1, 6):
        add(n)
    with CaptureQueriesContext(connection) as six:
        client.get(url)
    assert len(six) == len(one)


def test_an_uncertain_delivery_is_counted_shown_and_sent_again_by_it_staff(
    client, login, it_staff, employee, make_campaign, django_capture_on_commit_callbacks
):
    from policies.models import Delivery
    from portal.sending import UNCERTAIN_NOTE

    campaign = make_campaign()
    run = CampaignRun.objects.create(campaign=campaign, occurrence=timezone.now())
    delivery = Delivery.objects.create(
        campaign=campaign, run=run, recipient=employee, occurrence=run.occurrence, status="uncertain",
        handed_over_at=timezone.now(), last_error=UNCERTAIN_NOTE, attempts=1,
    )  # fmt: skip
    login(client, it_staff)
    page = client.get(f"/policies/campaigns/{campaign.pk}/").content.decode()
    assert "<dt>Delivery uncertain</dt><dd>" in page and 'class="status status-uncertain"' in page
    assert employee.email in page and "may or may not have arrived" in page and "Send again" in page
    assert 'class="status status-uncertain">1<' in client.get("/policies/campaigns/").content.decode()
    with django_capture_on_commit_callbacks():
        response = client.post(f"/policies/campaigns/{campaign.pk}/send-again/")
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error, delivery.handed_over_at) == ("pending", "", None)
    assert AuditEvent.objects.get(action="campaign.sent_again").details["deliveries"] == 1
