from __future__ import annotations

import pytest
from django.conf import settings

from policies import dispatch

pytestmark = pytest.mark.django_db


def test_beat_runs_the_policies_tick_every_campaign_tick():
    from portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["policies-tick"]
    assert entry == {"task": "policies.tick", "schedule": settings.CAMPAIGN_TICK_SECONDS}
    app.loader.import_default_modules()
    for name in ("policies.tick", "policies.fan_out", "policies.send_deliveries"):
        assert name in app.tasks
    assert app.tasks["policies.send_deliveries"].acks_late


def test_a_test_email_goes_only_to_the_person_who_asked(
    client, login, make_campaign, make_policy, it_staff, employee, smtp_server
):
    from portal import outbox
    from portal.models import OutboxMessage

    campaign = make_campaign(policy=make_policy())
    login(client, it_staff)
    client.post(f"/policies/campaigns/{campaign.pk}/test/")
    outbox.send_emails(list(OutboxMessage.objects.values_list("pk", flat=True)))
    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == [it_staff.email]
    assert mail.subject.startswith("[Test] ")
    assert f"/policies/{campaign.policy_id}/" in mail.text() and "nobody else received it" in mail.text()
    assert campaign.deliveries.count() == 0


def test_an_attestation_email_links_to_its_form(make_campaign, employee, smtp_server):
    campaign = make_campaign(kind="attestation")
    run = dispatch.claim_due_campaigns(dispatch.timezone.now())[0]
    batches: list[list[int]] = []
    dispatch.fan_out(run.pk, enqueue=batches.append)
    dispatch.send_deliveries(batches[0])
    (mail,) = smtp_server.messages
    assert f"/policies/attest/{campaign.pk}/" in mail.text()
    assert f'href="http://localhost:8000/policies/attest/{campaign.pk}/"' in mail.html()
