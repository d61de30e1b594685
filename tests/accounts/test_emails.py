"""Accounts emails through a real SMTP server: queued rows, sent once, retried after a refusal; the tick."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts import emails, enrolment, invitations
from accounts.models import AccountEmail
from accounts.tasks import run_tick


def test_an_invitation_is_delivered_with_text_and_html(smtp_server, make_user, it_staff):
    user = make_user("nina@example.com", first_name="Nina", password=None)
    _, token = invitations.invite(user, actor=it_staff)
    email = AccountEmail.objects.get(kind="invitation")
    assert emails.deliver(email.pk) == AccountEmail.SENT
    (message,) = smtp_server.messages
    assert message.rcpt_tos == ["nina@example.com"]
    assert message.subject == "Your Example Ltd security portal account"
    assert token in message.text() and f'href="http://localhost:8000/accounts/invitation/{token}/"' in message.html()
    email.refresh_from_db()
    # The secret link does not stay in the database once sent.
    assert email.status == AccountEmail.SENT and token not in email.body_text + email.body_html
    assert emails.deliver(email.pk) == "skipped"
    assert len(smtp_server.messages) == 1


def test_a_refused_email_stays_queued_and_is_retried(smtp_server, employee, it_staff):
    smtp_server.refuse()
    email = emails.send_token_reset_notice(employee, actor=it_staff, reason="phone lost")
    assert emails.deliver(email.pk) == AccountEmail.QUEUED
    email.refresh_from_db()
    assert email.attempts == 1 and "451" in email.last_error and email.body_text
    smtp_server.refuse(None)
    assert run_tick()["emails"] == {"sent": 1}
    assert smtp_server.messages[0].subject == "Your sign-in tokens were reset"


def test_a_claim_left_by_a_dead_worker_is_sent_later(smtp_server, employee):
    email = emails.send_otp_reuse_alert(employee, device_name="Phone", time_step=1, ip="192.0.2.1")
    AccountEmail.objects.filter(pk=email.pk).update(status=AccountEmail.SENDING, claimed_at=timezone.now())
    assert emails.deliver_due() == {}
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert emails.deliver_due() == {"sent": 1}


def test_one_reuse_alert_per_replayed_code(employee):
    first = emails.send_otp_reuse_alert(employee, device_name="Phone", time_step=42, ip=None)
    again = emails.send_otp_reuse_alert(employee, device_name="Phone", time_step=42, ip=None)
    assert first.pk == again.pk


def test_it_staff_hear_once_about_overdue_users(smtp_server, make_user, it_staff):
    late = make_user("late@example.com")
    with time_machine.travel(late.otp_grace_start + timedelta(days=8)):
        result = run_tick()
        assert result["overdue_notified"] == 2  # the late user and (unenrolled) IT staff member
        assert run_tick()["overdue_notified"] == 0
    (message,) = smtp_server.messages
    assert message.rcpt_tos == [it_staff.email]
    assert "late@example.com" in message.text() and "2 users overdue" in message.subject


def test_a_reset_makes_a_user_count_again_for_the_overdue_notice(make_user, it_staff):
    late = make_user("late@example.com")
    with time_machine.travel(late.otp_grace_start + timedelta(days=8)):
        enrolment.notify_overdue()
        enrolment.reset_tokens(late, actor=it_staff, reason="new phone")
        assert enrolment.notify_overdue() == []
    late.refresh_from_db()
    with time_machine.travel(late.otp_grace_start + timedelta(days=8)):
        assert [u.email for u in enrolment.notify_overdue()] == ["late@example.com"]


@pytest.fixture
def fresh_producer_pools():
    # kombu keeps producer pools per broker URL across tests; other tests close them at teardown.
    from kombu import pools

    pools.reset()
    yield
    pools.reset()


@pytest.mark.integration
def test_the_tick_runs_on_a_real_worker(
    celery_worker_factory, celery_app, fresh_producer_pools, smtp_server, employee, it_staff
):
    email = emails.send_token_reset_notice(employee, actor=it_staff, reason="phone lost")
    worker = celery_worker_factory(concurrency=1, env=smtp_server.env())
    celery_app.send_task("accounts.tasks.tick")  # what beat sends every minute
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not smtp_server.messages:
        time.sleep(0.2)
    assert smtp_server.messages, worker.log()
    email.refresh_from_db()
    assert email.status == AccountEmail.SENT and email.body_text == ""


def test_a_dead_broker_does_not_lose_the_email(
    celery_app, fresh_producer_pools, employee, it_staff, django_capture_on_commit_callbacks
):
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there (the fixture restores it)
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    with django_capture_on_commit_callbacks(execute=True):
        email = emails.send_token_reset_notice(employee, actor=it_staff, reason="phone lost")
    email.refresh_from_db()
    assert email.status == AccountEmail.QUEUED  # the tick will send it


def test_changes_to_credentials_are_announced_to_the_user(client, login, employee):
    from django.urls import reverse

    from accounts.models import BackupCodeDevice

    login(client, employee)
    client.post(reverse("otp_backup_codes_regenerate"))
    spare = employee.totpdevice_set.create(name="Spare", confirmed=True)
    client.post(reverse("otp_token_remove", kwargs={"pk": spare.pk}))
    notices = list(AccountEmail.objects.filter(kind="credentials-changed").order_by("pk"))
    assert [n.subject for n in notices] == [
        "Security notice: new backup codes were made",
        "Security notice: the token “Spare” was removed",
    ]
    assert all(n.to == [employee.email] for n in notices)
    assert BackupCodeDevice.objects.filter(user=employee).exists()
