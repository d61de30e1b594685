"""The Sending pages, the user page's banner, suspending and lifting by hand, shared mailboxes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import app_passwords
from accounts.models import AppPassword, AuditEvent
from monitoring.sending import report, suspensions
from monitoring.sending.models import (
    LimitOverride,
    PolicyRefusal,
    RelayAttempt,
    SenderAlias,
    SendingHour,
    SendingSettings,
    SendingState,
    SendingSuspension,
    SharedMailbox,
)
from portal.models import OutboxMessage

pytestmark = pytest.mark.django_db


def hour(login, user=None, ago=0, **totals):
    start = report.hour_start(timezone.now()) - timedelta(hours=ago)
    return SendingHour.objects.create(hour=start, login=login, user=user, **totals)


def test_the_dashboard_shows_people_top_senders_refusals_suspensions_relay_and_the_chart(
    client, login, executive, employee
):
    hour("erin@example.com", employee, messages=4, recipients=9, attempted=9)
    hour("erin@example.com", employee, ago=30, messages=1, recipients=1)
    hour("scanner", messages=2, recipients=2)
    now = timezone.now()
    PolicyRefusal.objects.create(first_at=now, last_at=now, login="erin@example.com", kind="sender",
                                 detail="ceo@example.com", count=3)  # fmt: skip
    RelayAttempt.objects.create(hour=report.hour_start(now), client_address="203.0.113.9", attempts=40,
                                first_at=now, last_at=now, last_recipient="x@victim.test")  # fmt: skip
    SendingSuspension.objects.create(user=employee, reason="Sending burst: 900 recipients")
    login(client, executive)
    page = client.get(reverse("sending:dashboard")).content.decode()
    assert f'data-suspended="{employee.email}"' in page and "Sending burst: 900 recipients" in page
    assert "ceo@example.com" in page and "203.0.113.9" in page and "scanner" in page
    assert 'class="volume-bar"' in page and "12 recipients in 7 messages" in page
    assert reverse("sending:person", args=[employee.pk]) not in page  # executives read, IT staff manage


def test_top_senders_before_a_moment_list_the_hours_before_it(client, login, it_staff, employee):
    hour("erin@example.com", employee, ago=2, recipients=500, messages=500)
    hour("bob@example.com", ago=1, recipients=3, messages=1)
    hour("late@example.com", ago=-2, recipients=900, messages=1)  # after the moment: not a cause
    login(client, it_staff)
    until = timezone.now().isoformat()
    page = client.get(reverse("sending:top_senders"), {"until": until, "hours": "3"}).content.decode()
    assert page.index("erin@example.com") < page.index("bob@example.com") and "late@example.com" not in page
    assert "could not be read" in client.get(reverse("sending:top_senders"), {"until": "soon"}).content.decode()


def test_the_block_list_dashboard_links_a_current_listing_to_the_top_senders_before_it(client, login, it_staff):
    from monitoring.dnsbl.models import DnsblZone, ListingChange, MonitoredAddress

    zone = DnsblZone.objects.create(name="Test list", zone="bl.test")
    address = MonitoredAddress.objects.create(value="192.0.2.25")
    ListingChange.objects.create(monitored=address, address="192.0.2.25", zone=zone, zone_name="bl.test",
                                 previous="clean", current="listed")  # fmt: skip
    login(client, it_staff)
    page = client.get(reverse("dnsbl:dashboard")).content.decode()
    assert reverse("sending:top_senders") + "?until=" in page


def test_it_staff_change_the_settings_and_role_limits_audited(client, login, it_staff):
    login(client, it_staff)
    data = {f"org-{k}": v for k, v in {"recipients_per_hour": 150, "recipients_per_day": 900, "messages_per_minute": 25,
                                       "soft_mark_percent": 75, "burst_multiplier": 8, "burst_floor": 40,
                                       "allow_subaddress": "on"}.items()}  # fmt: skip
    data.update({"role-executive-recipients_per_hour": "400", "role-executive-note": "board mailings"})
    assert client.post(reverse("sending:settings"), data).status_code == 302
    assert SendingSettings.load().recipients_per_hour == 150
    assert LimitOverride.objects.get(role="executive").recipients_per_hour == 400
    assert not LimitOverride.objects.filter(role="employee").exists()
    assert AuditEvent.objects.filter(action="sending.settings_changed").exists()
    assert AuditEvent.objects.get(action="sending.limits_changed").target == "role Executive"
    data["org-recipients_per_day"] = 100
    page = client.post(reverse("sending:settings"), data).content.decode()
    assert "A day&#x27;s limit below the hour&#x27;s" in page


def test_a_persons_page_sets_their_limits_and_aliases(client, login, it_staff, employee, make_user):
    make_user("taken@example.com")
    login(client, it_staff)
    url = reverse("sending:person", args=[employee.pk])
    client.post(url, {"limits": "1", "limits-recipients_per_hour": "50", "limits-note": "newsletter"})
    assert LimitOverride.objects.get(user=employee).recipients_per_hour == 50
    assert report.limits_for(employee)["recipients_per_hour"] == (50, "person")
    client.post(url, {"alias": "1", "alias-address": "Sales.Person@example.com"})
    assert SenderAlias.objects.get().canonical_address == "sales.person@example.com"
    page = client.post(url, {"alias": "1", "alias-address": "TAKEN@example.com"}).content.decode()
    assert "taken@example.com is a person&#x27;s own address." in page
    alias = SenderAlias.objects.get()
    client.post(reverse("sending:alias_delete", args=[employee.pk, alias.pk]))
    assert not SenderAlias.objects.exists()
    actions = list(AuditEvent.objects.filter(target=employee.email).values_list("action", flat=True))
    assert {"sending.limits_changed", "sending.alias_added", "sending.alias_removed"} <= set(actions)


def test_suspending_by_hand_shows_the_banner_and_lifting_needs_a_reason(client, login, it_staff, employee):
    app_passwords.create(employee, name="Laptop", can_read=True, can_send=True)
    login(client, it_staff)
    client.post(reverse("sending:suspend", args=[employee.pk]), {"reason": "phishing login reported"})
    suspension = SendingSuspension.objects.get()
    assert (suspension.suspended_by, suspension.app_passwords_suspended) == (it_staff, 1)
    page = client.get(reverse("user_detail", args=[employee.pk])).content.decode()
    assert "Possibly compromised: sending is suspended" in page and "Scan the device" in page
    assert "Revoke the device&#x27;s app passwords and create new ones" in page

    client.post(reverse("sending:lift", args=[employee.pk]), {"reason": "  ", "back": "user"})
    assert SendingSuspension.objects.open().exists()
    response = client.post(reverse("sending:lift", args=[employee.pk]), {"reason": "password changed", "back": "user"})
    assert response.url == reverse("user_detail", args=[employee.pk])
    suspension.refresh_from_db()
    assert (suspension.lifted_by, suspension.lift_reason) == (it_staff, "password changed")
    assert AppPassword.objects.get().state == "active"
    assert AuditEvent.objects.get(action="sending.suspension_lifted").details["reason"] == "password changed"
    assert OutboxMessage.objects.filter(kind="sending-lifted", to=[employee.email]).exists()
    assert "Possibly compromised" not in client.get(reverse("user_detail", args=[employee.pk])).content.decode()


def test_reinstating_app_passwords_from_the_user_page_closes_the_suspension(client, login, it_staff, employee):
    app_passwords.create(employee, name="Laptop", can_read=True, can_send=True)
    suspensions.suspend(employee, reason="Sending burst")
    login(client, it_staff)
    client.post(reverse("user_app_passwords_reinstate", args=[employee.pk]), {"reason": "laptop reinstalled"})
    assert SendingSuspension.objects.get().lift_reason == "laptop reinstalled"


def test_a_second_suspension_while_one_is_open_is_none(employee):
    assert suspensions.suspend(employee, reason="first") is not None
    assert suspensions.suspend(employee, reason="second") is None
    assert SendingSuspension.objects.count() == 1


def test_shared_mailboxes_are_added_changed_and_removed(client, login, it_staff, employee, make_user):
    other = make_user("other@example.com")
    login(client, it_staff)
    client.post(reverse("sending:shared_mailboxes"), {"address": "Info@example.com", "name": "Enquiries",
                                                      "members": [employee.pk]})  # fmt: skip
    mailbox = SharedMailbox.objects.get()
    assert mailbox.canonical_address == "info@example.com" and list(mailbox.members.all()) == [employee]
    client.post(reverse("sending:shared_mailbox", args=[mailbox.pk]), {"address": "info@example.com",
                                                                       "members": [other.pk]})  # fmt: skip
    changed = AuditEvent.objects.get(action="sending.shared_mailbox_changed")
    assert (changed.details["added"], changed.details["removed"]) == (["other@example.com"], [employee.email])
    page = client.post(reverse("sending:shared_mailboxes"), {"address": "INFO@example.com"}).content.decode()
    assert "already a shared mailbox" in page
    client.post(reverse("sending:shared_mailbox_delete", args=[mailbox.pk]))
    assert not SharedMailbox.objects.exists()


def test_the_status_line_says_who_is_suspended_then_what_was_refused_then_normal(employee):
    SendingState.store(service_seen_at=timezone.now(), service_host="mx1")
    assert report.status_line().status == "ok"
    now = timezone.now()
    PolicyRefusal.objects.create(first_at=now, last_at=now, login="x", kind="hour", count=4)
    assert report.status_line().status == "warning" and "4 deferred or refused" in report.status_line().text
    SendingSuspension.objects.create(user=employee, reason="burst")
    line = report.status_line()
    assert line.status == "critical" and employee.email in line.text
