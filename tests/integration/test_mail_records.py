"""What the verifier writes down about mail logins (in batches): first and last use, refusals with the
client's address, mailbox-password use for the coverage page, and the guessing alert to IT staff."""

from __future__ import annotations

import time

import pytest

from accounts import app_passwords
from accounts.models import AppPassword, AuditEvent, MailLoginSummary, OrganisationSettings
from accounts.roles import Role
from portal.models import OutboxMessage
from tests.services import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def erin(make_user):
    return make_user("erin@example.com", first_name="Erin")


def test_it_records_the_first_use_once_and_the_last_use_with_service_and_address(mail_stack, erin):
    created = app_passwords.create(erin, name="Laptop", can_read=True, can_send=True)
    assert mail_stack.imap("erin@example.com", created.secret, source="127.3.4.5") == "ok"
    row = wait_until(
        lambda: AppPassword.objects.filter(pk=created.password.pk, first_used_at__isnull=False).first(),
        10,
        describe=mail_stack.log,
    )
    assert (row.last_used_service, row.last_used_ip) == ("imap", "127.3.4.5")
    first_use = AuditEvent.objects.get(action="app_password.first_use")
    assert (first_use.target, first_use.ip_address, first_use.actor) == ("erin@example.com", "127.3.4.5", erin)
    assert first_use.details["service"] == "imap"

    # A second login within the minute: no second first-use event, and no new write of "last used".
    assert mail_stack.smtp("erin@example.com", created.secret, source="127.3.4.6") == "ok"
    mail_stack.sync()
    time.sleep(1)
    row.refresh_from_db()
    assert (row.last_used_service, row.last_used_ip) == ("imap", "127.3.4.5")
    assert AuditEvent.objects.filter(action="app_password.first_use").count() == 1


def test_a_wrong_password_is_refused_and_audited_with_the_client_address(mail_stack, erin):
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"mailbox_passwords": "refused"})
    assert mail_stack.imap("erin@example.com", "not-my-password", source="127.9.8.7") == "failed"
    event = wait_until(
        lambda: AuditEvent.objects.filter(action="mail_auth.refused").first(), 10, describe=mail_stack.log
    )
    assert (event.target, event.ip_address) == ("erin@example.com", "127.9.8.7")
    assert event.details["service"] == "imap"
    assert event.details["count"] == 1
    assert "refused" in event.details["reason"]
    summary = wait_until(
        lambda: MailLoginSummary.objects.filter(user=erin, refused=1).first(), 10, describe=mail_stack.log
    )
    assert summary.refused_last_ip == "127.9.8.7"


def test_a_revoked_password_is_refused_as_revoked(mail_stack, erin):
    created = app_passwords.create(erin, name="Old phone", can_read=True, can_send=True)
    app_passwords.revoke(created.password, by=erin, reason=AppPassword.RevokeReason.OWNER)
    assert mail_stack.imap("erin@example.com", created.secret, source="127.9.8.9") == "failed"
    event = wait_until(
        lambda: AuditEvent.objects.filter(action="mail_auth.refused").first(), 10, describe=mail_stack.log
    )
    assert event.details["reason"] == "app password revoked"
    assert event.ip_address == "127.9.8.9"


def test_mailbox_password_logins_are_counted_for_the_coverage_page_and_failures_as_refusals(mail_stack, erin):
    mail_stack.set_mailbox_password("erin@example.com", "the old mailbox password")
    assert mail_stack.imap("erin@example.com", "the old mailbox password", source="127.6.6.6") == "ok"
    summary = wait_until(
        lambda: MailLoginSummary.objects.filter(user=erin, mailbox_password_logins=1).first(),
        10,
        describe=mail_stack.log,
    )
    assert (summary.mailbox_password_last_service, summary.mailbox_password_last_ip) == ("imap", "127.6.6.6")
    assert list(app_passwords.mailbox_password_users()) == [erin]

    assert mail_stack.pop3("erin@example.com", "a guessed password", source="127.6.6.7") == "failed"
    event = wait_until(
        lambda: AuditEvent.objects.filter(action="mail_auth.refused").first(), 10, describe=mail_stack.log
    )
    assert (event.details["reason"], event.ip_address) == ("wrong mailbox password", "127.6.6.7")


def test_many_refusals_within_minutes_alert_it_staff_once(mail_stack, erin, make_user):
    make_user("ivan@example.com", role=Role.IT_STAFF)
    OrganisationSettings.objects.update_or_create(
        pk=1, defaults={"mailbox_passwords": "refused", "mail_refusal_alert_threshold": 3}
    )
    for attempt in range(4):
        assert mail_stack.imap("erin@example.com", f"guess {attempt}", source=f"127.7.7.{attempt + 1}") == "failed"
    alert = wait_until(
        lambda: OutboxMessage.objects.filter(kind="accounts-mail-refusals", channel=None).first(),
        10,
        describe=mail_stack.log,
    )
    assert alert.to == ["ivan@example.com"]
    assert "erin@example.com" in alert.subject
    event = wait_until(
        lambda: AuditEvent.objects.filter(action="mail_auth.refusal_alert").first(), 10, describe=mail_stack.log
    )
    assert event.details["count"] == 3
    mail_stack.sync()
    assert OutboxMessage.objects.filter(kind="accounts-mail-refusals", channel=None).count() == 1
