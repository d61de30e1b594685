"""Accounts messages through the outbox and a real SMTP server: one row per event, sent once, retried; the tick."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts import emails, enrolment, invitations, lockout
from accounts.models import AuditEvent, SignInFailure
from accounts.tasks import run_tick
from portal import outbox, sending
from portal.models import OutboxMessage

Status = OutboxMessage.Status


def _event(user, action="otp.reset"):
    from accounts import audit

    return audit.record(action, actor=user, target=user.email)


def test_an_invitation_is_delivered_with_text_and_html(smtp_server, make_user, it_staff):
    user = make_user("nina@example.com", first_name="Nina", password=None)
    _, token = invitations.invite(user, actor=it_staff)
    email = OutboxMessage.objects.get(kind="accounts-invitation")
    assert outbox.send_emails([email.pk]) == {}
    (message,) = smtp_server.messages
    assert message.rcpt_tos == ["nina@example.com"]
    assert message.subject == "Your Example Ltd security portal account"
    assert token in message.text() and f'href="http://localhost:8000/accounts/invitation/{token}/"' in message.html()
    email.refresh_from_db()
    # The secret link does not stay in the database once sent.
    assert email.status == Status.SENT and token not in email.body_text + email.body_html
    assert outbox.send_emails([email.pk]) == {}  # a redelivered task finds it sent
    assert len(smtp_server.messages) == 1


def test_a_refused_email_stays_pending_and_is_retried(smtp_server, employee, it_staff):
    smtp_server.refuse()
    email = emails.send_token_reset_notice(employee, actor=it_staff, reason="phone lost", event=_event(employee))
    assert outbox.send_emails([email.pk]) == {email.pk: 60}
    email.refresh_from_db()
    assert email.status == Status.PENDING and email.attempts == 1 and "451" in email.last_error and email.body_text
    smtp_server.refuse(None)
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert outbox.tick()["published"] == 1  # what the beat's outbox tick does
        outbox.send_emails([email.pk])
    email.refresh_from_db()
    assert email.status == Status.SENT and email.last_error == ""  # a success clears the error
    assert smtp_server.messages[0].subject == "Your sign-in tokens were reset"


def test_a_claim_left_by_a_dead_worker_is_sent_later(smtp_server, employee):
    device = employee.totpdevice_set.create(name="Phone", confirmed=True)
    email = emails.send_otp_reuse_alert(employee, device=device, time_step=1, ip="192.0.2.1", when=timezone.now())
    assert sending.claim(OutboxMessage, email.pk, timezone.now())  # and the worker (one that never beats) dies
    assert outbox.tick()["resent"] == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert outbox.tick() == {"resent": 1, "uncertain": 0, "reachable": 0, "published": 1}
        outbox.send_emails([email.pk])
    assert [m.rcpt_tos for m in smtp_server.messages] == [[employee.email]]


def test_the_same_event_is_one_message(employee, it_staff):
    device = employee.totpdevice_set.create(name="Phone", confirmed=True)
    first = emails.send_otp_reuse_alert(employee, device=device, time_step=42, ip=None, when=timezone.now())
    again = emails.send_otp_reuse_alert(employee, device=device, time_step=42, ip=None, when=timezone.now())
    assert first.pk == again.pk
    event = _event(employee)
    notices = [emails.send_token_reset_notice(employee, actor=it_staff, reason="x", event=event) for _ in range(2)]
    assert notices[0].pk == notices[1].pk
    assert OutboxMessage.objects.filter(kind="accounts-token-reset").count() == 1
    # The replayed code also alerted IT once: one email row to the IT staff member.
    assert list(OutboxMessage.objects.filter(kind="accounts-otp-reuse-alert").values_list("to", flat=True)) == [
        [it_staff.email]
    ]


def test_a_new_event_is_a_new_message(employee, it_staff):
    first = emails.send_token_reset_notice(employee, actor=it_staff, reason="a", event=_event(employee))
    second = emails.send_token_reset_notice(employee, actor=it_staff, reason="b", event=_event(employee))
    assert first.pk != second.pk


def test_it_alerts_skip_it_staff_who_never_accepted_their_invitation(make_user, it_staff):
    imported = make_user("new-it@example.com", role="it_staff", password=None)
    invitations.invite(imported, actor=it_staff)
    make_user("former@example.com", role="it_staff", is_active=False)
    make_user("boss@example.com", role="executive")
    assert outbox.it_alert_recipients() == [it_staff.email]


def test_it_staff_hear_once_about_overdue_users(smtp_server, make_user, it_staff):
    late = make_user("late@example.com")
    with time_machine.travel(late.otp_grace_start + timedelta(days=8)):
        result = run_tick()
        assert result["overdue_notified"] == 2  # the late user and (unenrolled) IT staff member
        assert run_tick()["overdue_notified"] == 0
    (row,) = OutboxMessage.objects.filter(kind="accounts-overdue")
    outbox.send_emails([row.pk])
    (message,) = smtp_server.messages
    assert message.rcpt_tos == [it_staff.email]
    assert "late@example.com" in message.text() and "2 users overdue" in message.subject
    assert "http://localhost:8000/accounts/coverage/" in message.text()


def test_a_lockout_alerts_it_staff_once(it_staff, settings):
    from accounts.models import OrganisationSettings

    threshold = OrganisationSettings.load().hard_lock_after
    for _ in range(threshold + 2):
        lockout.record_failure("victim@example.com", "198.51.100.7", SignInFailure.PASSWORD)
    (alert,) = OutboxMessage.objects.filter(kind="accounts-lockout")
    event = AuditEvent.objects.get(action="login.lockout")
    assert alert.key == f"accounts.lockout:{event.pk}|email" and alert.to == [it_staff.email]
    assert "victim@example.com" in alert.subject and "198.51.100.7" in alert.body_text
    assert "198.51.100.0/24" in alert.body_text
    assert alert.severity == "warning"


def test_a_reset_makes_a_user_count_again_for_the_overdue_notice(make_user, it_staff):
    late = make_user("late@example.com")
    with time_machine.travel(late.otp_grace_start + timedelta(days=8)):
        enrolment.notify_overdue()
        enrolment.reset_tokens(late, actor=it_staff, reason="new phone")
        assert enrolment.notify_overdue() == []
    late.refresh_from_db()
    with time_machine.travel(late.otp_grace_start + timedelta(days=8)):
        assert [u.email for u in enrolment.notify_overdue()] == ["late@example.com"]
    assert OutboxMessage.objects.filter(kind="accounts-overdue").count() == 2


@pytest.mark.integration
def test_the_outbox_tick_runs_on_a_real_worker(
    celery_worker_factory, celery_app, fresh_producer_pools, smtp_server, employee, it_staff
):
    email = emails.send_token_reset_notice(employee, actor=it_staff, reason="phone lost", event=_event(employee))
    OutboxMessage.objects.filter(pk=email.pk).update(queued_at=None)  # as if its publish had failed
    worker = celery_worker_factory(concurrency=1, env=smtp_server.env())
    celery_app.send_task("portal.outbox_tick")  # what beat sends every 30 seconds
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not smtp_server.messages:
        time.sleep(0.2)
    assert smtp_server.messages, worker.log()
    email.refresh_from_db()
    assert email.status == Status.SENT


def test_a_dead_broker_does_not_lose_the_email(dead_broker, employee, it_staff, django_capture_on_commit_callbacks):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        email = emails.send_token_reset_notice(employee, actor=it_staff, reason="phone lost", event=_event(employee))
    assert time.monotonic() - started < 5  # the request is not held by the broker
    email.refresh_from_db()
    assert email.status == Status.PENDING and email.queued_at is None  # the next tick publishes it


def test_changes_to_credentials_are_announced_to_the_user(client, login, employee):
    from django.urls import reverse

    from accounts.models import BackupCodeDevice

    login(client, employee)
    client.post(reverse("otp_backup_codes_regenerate"))
    spare = employee.totpdevice_set.create(name="Spare", confirmed=True)
    client.post(reverse("otp_token_remove", kwargs={"pk": spare.pk}))
    notices = list(OutboxMessage.objects.filter(kind="accounts-credentials-changed").order_by("pk"))
    assert [n.subject for n in notices] == [
        "Security notice: new backup codes were made",
        "Security notice: the token “Spare” was removed",
    ]
    assert all(n.to == [employee.email] for n in notices)
    assert BackupCodeDevice.objects.filter(user=employee).exists()
