"""IMAP, POP3 and SMTP submission logins through the real Dovecot and Postfix, asking the real verifier.

The stack (tests/mailserver.py) is configured from ``manage.py mail_auth_config`` output: the Lua
passdb, the site's passdb (a passwd-file standing in for PAM) and Postfix submission (STARTTLS and
implicit TLS) with Dovecot SASL.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import app_passwords
from accounts.models import AppPassword, OrganisationSettings

pytestmark = pytest.mark.integration

MAILBOX_PASSWORD = "erin's old mailbox password"


@pytest.fixture
def erin(make_user, mail_stack):
    user = make_user("erin@example.com", first_name="Erin")
    mail_stack.set_mailbox_password("erin@example.com", MAILBOX_PASSWORD)
    return user


def make_password(user, *, read=True, send=True, name="Laptop"):
    return app_passwords.create(user, name=name, can_read=read, can_send=send)


def set_mailbox_rule(mode, until=None):
    org = OrganisationSettings.load()
    org.mailbox_passwords, org.mailbox_passwords_until = mode, until
    org.save()


def test_it_logs_in_with_a_fresh_app_password_on_imap_pop3_and_both_submission_ports(mail_stack, erin):
    secret = make_password(erin).secret
    assert mail_stack.imap("erin@example.com", secret) == "ok"
    assert mail_stack.pop3("erin@example.com", secret) == "ok"
    assert mail_stack.smtp("erin@example.com", secret, send_to="someone@elsewhere.test") == "ok"
    assert mail_stack.smtp("erin@example.com", secret, implicit_tls=True) == "ok"
    # Typed in capitals and without the dashes, as phones sometimes do.
    assert mail_stack.imap("Erin@Example.com", secret.replace("-", "").upper()) == "ok"


def test_the_mailbox_password_works_while_allowed_and_is_refused_when_the_setting_says_so(mail_stack, erin):
    set_mailbox_rule(OrganisationSettings.MailboxPasswords.ALLOWED)
    assert mail_stack.imap("erin@example.com", MAILBOX_PASSWORD) == "ok"
    assert mail_stack.smtp("erin@example.com", MAILBOX_PASSWORD) == "ok"
    assert mail_stack.imap("erin@example.com", "a wrong password") == "failed"

    set_mailbox_rule(OrganisationSettings.MailboxPasswords.UNTIL, timezone.localdate() + timedelta(days=3))
    assert mail_stack.imap("erin@example.com", MAILBOX_PASSWORD) == "ok"

    set_mailbox_rule(OrganisationSettings.MailboxPasswords.UNTIL, timezone.localdate() - timedelta(days=1))
    assert mail_stack.imap("erin@example.com", MAILBOX_PASSWORD) == "failed"

    set_mailbox_rule(OrganisationSettings.MailboxPasswords.REFUSED)
    assert mail_stack.imap("erin@example.com", MAILBOX_PASSWORD) == "failed"
    assert mail_stack.pop3("erin@example.com", MAILBOX_PASSWORD) == "failed"
    assert mail_stack.smtp("erin@example.com", MAILBOX_PASSWORD) == "failed"
    # App passwords are unaffected.
    assert mail_stack.imap("erin@example.com", make_password(erin).secret) == "ok"


def test_scopes_a_read_only_password_cannot_send_and_a_send_only_one_cannot_read(mail_stack, erin):
    read_only = make_password(erin, send=False, name="Phone").secret
    send_only = make_password(erin, read=False, name="Scanner").secret
    assert mail_stack.imap("erin@example.com", read_only) == "ok"
    assert mail_stack.pop3("erin@example.com", read_only) == "ok"
    assert mail_stack.smtp("erin@example.com", read_only) == "failed"
    assert mail_stack.smtp("erin@example.com", read_only, implicit_tls=True) == "failed"
    assert mail_stack.smtp("erin@example.com", send_only) == "ok"
    assert mail_stack.imap("erin@example.com", send_only) == "failed"


def test_a_revoked_password_fails_within_seconds_even_though_dovecot_cached_its_login(mail_stack, erin):
    created = make_password(erin)
    other = make_password(erin, name="Phone").secret
    assert mail_stack.imap("erin@example.com", created.secret) == "ok"  # now in Dovecot's auth cache
    assert mail_stack.smtp("erin@example.com", created.secret) == "ok"

    revoked_at = time.monotonic()
    assert app_passwords.revoke(created.password, by=erin, reason=AppPassword.RevokeReason.OWNER)
    assert mail_stack.imap("erin@example.com", created.secret) == "failed"
    assert mail_stack.smtp("erin@example.com", created.secret) == "failed"
    assert time.monotonic() - revoked_at < 60
    assert mail_stack.imap("erin@example.com", other) == "ok"  # the other device keeps working


def test_every_password_of_a_deactivated_user_fails_the_mailbox_password_included(mail_stack, erin):
    set_mailbox_rule(OrganisationSettings.MailboxPasswords.ALLOWED)
    laptop, phone = make_password(erin).secret, make_password(erin, name="Phone").secret
    assert mail_stack.imap("erin@example.com", laptop) == "ok"
    assert mail_stack.imap("erin@example.com", MAILBOX_PASSWORD) == "ok"

    erin.is_active = False
    erin.save()
    for password in (laptop, phone, MAILBOX_PASSWORD):
        assert mail_stack.imap("erin@example.com", password) == "failed"
        assert mail_stack.smtp("erin@example.com", password) == "failed"
    assert set(AppPassword.objects.filter(user=erin).values_list("revoked_reason", flat=True)) == {"deactivated"}

    # Active again: the mailbox password works again (while allowed); the revoked app passwords do not.
    erin.is_active = True
    erin.save()
    assert mail_stack.imap("erin@example.com", MAILBOX_PASSWORD) == "ok"
    assert mail_stack.imap("erin@example.com", laptop) == "failed"


def test_people_the_portal_does_not_know_use_the_site_passdb_only_while_mailbox_passwords_are_allowed(mail_stack):
    mail_stack.set_mailbox_password("scanner@example.com", "scanner mailbox password")
    set_mailbox_rule(OrganisationSettings.MailboxPasswords.ALLOWED)
    assert mail_stack.smtp("scanner@example.com", "scanner mailbox password") == "ok"
    set_mailbox_rule(OrganisationSettings.MailboxPasswords.REFUSED)
    assert mail_stack.smtp("scanner@example.com", "scanner mailbox password") == "failed"


def test_a_password_suspended_from_sending_still_reads_mail(mail_stack, erin):
    secret = make_password(erin).secret
    assert app_passwords.suspend_sending(erin, reason="sending burst") == 1
    assert mail_stack.smtp("erin@example.com", secret) == "failed"
    assert mail_stack.imap("erin@example.com", secret) == "ok"
    app_passwords.reinstate_sending(erin, by=None)
    assert mail_stack.smtp("erin@example.com", secret) == "ok"
