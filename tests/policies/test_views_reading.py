from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from policies.models import Acknowledgement

pytestmark = pytest.mark.django_db


def test_my_policies_lists_what_waits_and_counts_it_in_the_navigation(client, login, employee, make_policy):
    make_policy("Remote access")
    make_policy("Executives only", audience_roles=["executive"])
    make_policy("Draft", publish=False)
    login(client, employee)
    response = client.get("/policies/")
    body = response.content.decode()
    assert "Remote access" in body and "Executives only" not in body and "Draft" not in body
    assert 'class="nav-count"' in body and ">1<" in body
    assert [row.policy.title for row in response.context["waiting"]] == ["Remote access"]


def test_an_employee_acknowledges_the_version_they_read(client, login, employee, make_policy):
    policy = make_policy()
    login(client, employee)
    page = client.get(f"/policies/{policy.pk}/")
    assert b"I have read and understood version 1" in page.content
    response = client.post(
        f"/policies/{policy.pk}/acknowledge/", {"version": "1"}, HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="192.0.2.5"
    )
    assert response.status_code == 302 and response["Location"] == "/policies/"
    ack = Acknowledgement.objects.get()
    assert (ack.user, ack.version_number, ack.ip_address, ack.user_agent) == (employee, 1, "192.0.2.5", "Firefox/140")
    event = AuditEvent.objects.get(action="policy.acknowledged")
    assert event.actor == employee and event.details == {"version": 1}
    assert b"You acknowledged version 1" in client.get(f"/policies/{policy.pk}/").content
    assert b'class="nav-count"' not in client.get("/policies/").content


def test_acknowledging_a_version_that_changed_meanwhile_asks_to_read_again(client, login, employee, make_policy):
    policy = make_policy()
    policy.edit(title=policy.title, summary="s", body="new")
    policy.publish(by=None, require_acknowledgement=True)
    login(client, employee)
    response = client.post(f"/policies/{policy.pk}/acknowledge/", {"version": "1"}, follow=True)
    assert Acknowledgement.objects.count() == 0
    assert b"changed while you were reading" in response.content


def test_policies_for_others_drafts_and_retired_ones_are_not_found(client, login, employee, make_policy):
    other = make_policy("Executives", audience_roles=["executive"])
    draft = make_policy("Draft", publish=False)
    retired = make_policy("Old")
    retired.retire()
    login(client, employee)
    for policy in (other, draft, retired):
        assert client.get(f"/policies/{policy.pk}/").status_code == 404
        assert client.post(f"/policies/{policy.pk}/acknowledge/", {"version": "1"}).status_code == 404
    assert client.get(f"/policies/{other.pk}/v1/").status_code == 404


def test_earlier_versions_stay_readable_with_a_diff(client, login, employee, make_policy):
    policy = make_policy(body="Line one\nLine two")
    policy.edit(title=policy.title, summary=policy.summary, body="Line one\nLine 2\nLine three")
    policy.publish(by=None, require_acknowledgement=False, note="Clearer")
    login(client, employee)
    old = client.get(f"/policies/{policy.pk}/v1/").content.decode()
    assert "Line two" in old and "earlier version" in old
    diff = client.get(f"/policies/{policy.pk}/diff/", {"from": 1, "to": 2}).content.decode()
    assert "diff-removed" in diff and "Line two" in diff and "Line three" in diff
    assert client.get(f"/policies/{policy.pk}/diff/", {"from": 1, "to": 9}).status_code == 404


def test_an_attestation_is_answered_once(client, login, employee):
    import datetime as dt

    from django.utils import timezone

    from policies.models import AttestationResponse, Campaign, CampaignRun, Delivery

    campaign = Campaign.objects.create(
        name="Devices", kind=Campaign.Kind.ATTESTATION, subject="Monthly check", message="Three questions.",
        starts_at=timezone.now() - dt.timedelta(days=1),
    )  # fmt: skip
    first = campaign.statements.create(text="My laptop has current updates.", position=0)
    second = campaign.statements.create(text="I installed no unapproved software.", position=1)
    run = CampaignRun.objects.create(campaign=campaign, occurrence=timezone.now())
    Delivery.objects.create(campaign=campaign, run=run, recipient=employee, occurrence=run.occurrence, status="sent")
    login(client, employee)
    mine = client.get("/policies/").content.decode()
    assert "Monthly check" in mine and 'class="nav-count"' in mine
    page = client.get(f"/policies/attest/{campaign.pk}/")
    assert b"My laptop has current updates." in page.content
    missing = client.post(f"/policies/attest/{campaign.pk}/", {f"statement_{first.pk}": "yes"})
    assert missing.status_code == 200 and AttestationResponse.objects.count() == 0
    data = {f"statement_{first.pk}": "yes", f"statement_{second.pk}": "no", "comment": "Will fix"}
    assert client.post(f"/policies/attest/{campaign.pk}/", data).status_code == 302
    client.post(f"/policies/attest/{campaign.pk}/", data)
    response = AttestationResponse.objects.get()
    assert {a.statement_id: a.answer for a in response.answers.all()} == {first.pk: True, second.pk: False}
    assert b"You answered on" in client.get(f"/policies/attest/{campaign.pk}/").content
    assert b"Monthly check" not in client.get("/policies/").content
