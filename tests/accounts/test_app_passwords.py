"""App passwords as a service: create (limit, hash only), revoke, the state model, and every path that
revokes them all (deactivation, token reset, the tick's safety net), plus the transition reminders."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts import app_passwords, enrolment
from accounts.mailauth import passwords
from accounts.models import AppPassword, AuditEvent, MailLoginSummary, OrganisationSettings, User
from accounts.tasks import run_tick
from portal.models import OutboxMessage

pytestmark = pytest.mark.django_db


def create(user, name="Laptop", read=True, send=True):
    return app_passwords.create(user, name=name, can_read=read, can_send=send)


def test_it_stores_only_a_salted_hash_of_the_shown_secret(employee):
    created = create(employee)
    row = AppPassword.objects.get(pk=created.password.pk)
    normalised = passwords.normalise(created.secret)
    assert normalised not in (row.salt, row.digest)
    assert passwords.matches(bytes.fromhex(row.salt), bytes.fromhex(row.digest), normalised)
    event = AuditEvent.objects.get(action="app_password.created")
    assert (event.target, event.details["name"], event.details["scope"]) == (employee.email, "Laptop", "Read and send")
    assert created.secret not in str(event.details)


def test_a_password_must_read_or_send(employee):
    with pytest.raises(ValueError):
        create(employee, read=False, send=False)


def test_the_organisation_limits_how_many_a_person_has(employee):
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"app_passwords_per_user": 2})
    first = create(employee, "One")
    create(employee, "Two")
    with pytest.raises(app_passwords.LimitReached):
        create(employee, "Three")
    app_passwords.revoke(first.password, by=employee, reason=AppPassword.RevokeReason.OWNER)
    create(employee, "Three")  # revoked ones do not count


def test_the_state_model_active_suspended_revoked(employee):
    row = create(employee).password
    assert row.suspend(reason="sending burst") and row.state == "suspended"
    assert not row.suspend(reason="again")
    assert row.reinstate() and row.state == "active"
    assert not row.reinstate()
    assert row.suspend(reason="burst")
    assert app_passwords.revoke(row, by=None, reason=AppPassword.RevokeReason.IT_STAFF)
    assert not app_passwords.revoke(row, by=None, reason=AppPassword.RevokeReason.IT_STAFF)
    assert not row.reinstate()  # revoked is final
    row.refresh_from_db()
    assert (row.state, row.revoked_reason) == ("revoked", "it_staff")
    assert AuditEvent.objects.filter(action="app_password.revoked").count() == 1


def test_deactivating_a_user_through_any_save_revokes_every_app_password(employee):
    create(employee, "Laptop")
    create(employee, "Phone").password.suspend(reason="burst")
    employee.is_active = False
    employee.save()
    assert set(AppPassword.objects.filter(user=employee).values_list("state", "revoked_reason")) == {
        ("revoked", "deactivated")
    }
    event = AuditEvent.objects.get(action="app_password.revoked_all")
    assert (event.details["count"], event.details["reason"]) == (2, "deactivated")


def test_the_user_page_and_the_admin_deactivate_through_save(client, login, it_staff, employee):
    from django.urls import reverse

    create(employee)
    login(client, it_staff)
    client.post(reverse("user_detail", kwargs={"pk": employee.pk}), {"role": "employee", "department": ""})
    assert AppPassword.objects.get(user=employee).state == "revoked"

    other = User.objects.create_user("olga@example.com", password="x" * 16)
    create(other)
    client.post(
        reverse("admin:accounts_user_change", args=[other.pk]),
        {"email": other.email, "role": "employee", "date_joined_0": "2026-01-01", "date_joined_1": "09:00:00"},
    )
    assert AppPassword.objects.get(user=other).state == "revoked"


@pytest.mark.parametrize(("setting", "state"), [(True, "revoked"), (False, "active")])
def test_a_token_reset_revokes_app_passwords_when_the_setting_says_so(employee, it_staff, setting, state):
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"revoke_app_passwords_on_token_reset": setting})
    create(employee)
    enrolment.reset_tokens(employee, actor=it_staff, reason="phone lost")
    row = AppPassword.objects.get(user=employee)
    assert row.state == state
    if setting:
        assert (row.revoked_reason, row.revoked_by) == ("token_reset", it_staff)


def test_the_tick_revokes_app_passwords_of_people_deactivated_without_save(employee):
    create(employee)
    User.objects.filter(pk=employee.pk).update(is_active=False)
    assert run_tick()["app_passwords_revoked"] == 1
    assert run_tick()["app_passwords_revoked"] == 0


def test_mailbox_password_users_are_the_recent_ones(employee, executive):
    now = timezone.now()
    MailLoginSummary.objects.create(user=employee, mailbox_password_last_used_at=now - timedelta(days=2))
    MailLoginSummary.objects.create(user=executive, mailbox_password_last_used_at=now - timedelta(days=31))
    assert list(app_passwords.mailbox_password_users()) == [employee]


def test_reminders_go_14_7_and_1_days_before_the_cut_off_once_each(employee, executive):
    OrganisationSettings.objects.update_or_create(
        pk=1, defaults={"mailbox_passwords": "until", "mailbox_passwords_until": date(2026, 3, 20)}
    )
    MailLoginSummary.objects.create(user=employee, mailbox_password_last_used_at=timezone.now())
    sent = {}
    for day in range(1, 23):
        with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 3, day, 9, 0)), tick=False):
            MailLoginSummary.objects.filter(user=employee).update(mailbox_password_last_used_at=timezone.now())
            if app_passwords.remind_mailbox_password_users():
                sent[day] = OutboxMessage.objects.filter(kind="accounts-mailbox-password-reminder").count()
    # Every day from the 6th offers a reminder, but each step (14, 7, 1 days) is one email only.
    assert OutboxMessage.objects.filter(kind="accounts-mailbox-password-reminder").count() == 3
    assert [sent[6], sent[13], sent[19]] == [1, 2, 3]
    assert 21 not in sent
    first = OutboxMessage.objects.filter(kind="accounts-mailbox-password-reminder").order_by("pk").first()
    assert first.to == [employee.email]
    assert "20 Mar 2026" in first.subject
    assert "/accounts/devices/" in first.body_text


def test_no_reminders_while_mailbox_passwords_are_simply_allowed_or_refused(employee):
    MailLoginSummary.objects.create(user=employee, mailbox_password_last_used_at=timezone.now())
    for mode in ("allowed", "refused"):
        OrganisationSettings.objects.update_or_create(pk=1, defaults={"mailbox_passwords": mode})
        assert app_passwords.remind_mailbox_password_users() == 0


def test_suspending_sending_leaves_reading_and_is_reinstated_by_it_staff(employee, it_staff):
    laptop = create(employee, "Laptop").password
    reader = create(employee, "Tablet", send=False).password
    assert app_passwords.suspend_sending(employee, reason="1,200 messages in 5 minutes") == 1
    laptop.refresh_from_db()
    reader.refresh_from_db()
    assert (laptop.state, laptop.suspended_reason, reader.state) == (
        "suspended",
        "1,200 messages in 5 minutes",
        "active",
    )
    assert app_passwords.suspend_sending(employee, reason="again") == 0
    event = AuditEvent.objects.get(action="app_password.suspended")
    assert event.details["names"] == ["Laptop"]

    assert app_passwords.reinstate_sending(employee, by=it_staff) == 1
    laptop.refresh_from_db()
    assert laptop.state == "active" and not laptop.suspended_reason
    assert AuditEvent.objects.get(action="app_password.reinstated").actor == it_staff
