"""What mail programs see when the portal's verifier is down or restarted, and Dovecot's cache TTL alone.

- verifier down: a new login is a temporary failure (IMAP, POP3), never a success; a login Dovecot
  has cached keeps working (it falls back to its cache on a temporary failure);
- Postfix 3.7 turns every Dovecot SASL failure into 535, so SMTP AUTH shows a failure, never a success;
- a restarted verifier is found again on the next login (the Lua passdb reconnects);
- without the cache flush, the cache TTL alone bounds how long a revoked password keeps working.
"""

from __future__ import annotations

import time

import pytest

from accounts import app_passwords
from accounts.models import AppPassword
from portal.models import Heartbeat
from tests.mailclients import run_coroutine
from tests.services import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def erin(make_user):
    return make_user("erin@example.com", first_name="Erin")


def test_with_the_verifier_stopped_new_logins_fail_temporarily_and_cached_ones_keep_working(mail_stack, erin):
    cached = app_passwords.create(erin, name="Laptop", can_read=True, can_send=True).secret
    never_used = app_passwords.create(erin, name="Phone", can_read=True, can_send=True).secret
    assert mail_stack.imap("erin@example.com", cached) == "ok"
    assert mail_stack.smtp("erin@example.com", cached) == "ok"

    mail_stack.verifier.stop()
    assert mail_stack.imap("erin@example.com", never_used, sync=False) == "tempfail"
    assert mail_stack.pop3("erin@example.com", never_used, sync=False) == "tempfail"
    assert mail_stack.imap("erin@example.com", "a guess", sync=False) == "tempfail"
    assert mail_stack.smtp("erin@example.com", never_used, sync=False) == "failed"  # 535: Postfix, see above
    # Within the cache lifetime the device that just logged in is not interrupted.
    assert mail_stack.imap("erin@example.com", cached, sync=False) == "ok"
    assert mail_stack.smtp("erin@example.com", cached, sync=False) == "ok"


def test_a_restarted_verifier_is_found_again_without_a_failed_login(mail_stack, erin):
    secret = app_passwords.create(erin, name="Laptop", can_read=True, can_send=True).secret
    assert mail_stack.imap("erin@example.com", secret) == "ok"
    mail_stack.doveadm("auth", "cache", "flush")
    mail_stack.verifier.stop()
    mail_stack.start_verifier()
    # It reports to the load dashboard as the mail-path service "mail_auth" (docs/load.md).
    wait_until(lambda: Heartbeat.age("mail_auth") is not None, 10, describe=mail_stack.log)
    # The auth workers' kept connections went with the old process: the Lua passdb reconnects once.
    for _ in range(3):
        assert mail_stack.imap("erin@example.com", secret) == "ok"
        mail_stack.doveadm("auth", "cache", "flush")


def test_without_the_flush_socket_the_cache_ttl_alone_ends_a_revoked_password(make_mail_stack, make_user):
    stack = make_mail_stack(cache_ttl=3, flush_cache=False, postfix=False)
    erin = make_user("erin@example.com")
    created = app_passwords.create(erin, name="Laptop", can_read=True, can_send=False)
    assert stack.imap("erin@example.com", created.secret) == "ok"
    revoked_at = time.monotonic()
    app_passwords.revoke(created.password, by=erin, reason=AppPassword.RevokeReason.OWNER)
    stack.sync()
    # Still in Dovecot's cache: this is what the flush is for ...
    assert stack.imap("erin@example.com", created.secret) == "ok"
    time.sleep(max(0.0, 3 + 1.1 - (time.monotonic() - revoked_at)))
    # ... but never longer than the TTL.
    assert stack.imap("erin@example.com", created.secret) == "failed"


def test_a_verifier_that_hangs_gives_a_temporary_failure_after_the_timeout(mail_stack, erin):
    import os
    import signal

    secret = app_passwords.create(erin, name="Laptop", can_read=True, can_send=True).secret
    mail_stack.sync()
    os.kill(mail_stack.verifier.process.pid, signal.SIGSTOP)  # alive, listening, but never answering
    try:
        started = time.monotonic()
        assert mail_stack.imap("erin@example.com", secret, sync=False) == "tempfail"
        assert time.monotonic() - started < 10  # the Lua passdb's 3 s, not the client's patience
    finally:
        os.kill(mail_stack.verifier.process.pid, signal.SIGCONT)
    # The late answer went to a connection the Lua side had dropped: the next login is answered right.
    assert mail_stack.imap("erin@example.com", secret) == "ok"


def test_the_ping_command_and_the_flush_speak_to_the_real_processes(mail_stack, erin):
    from io import StringIO

    from django.core.management import call_command

    from accounts.mailauth import dovecot

    secret = app_passwords.create(erin, name="Laptop", can_read=True, can_send=True).secret
    assert mail_stack.imap("erin@example.com", secret) == "ok"
    out = StringIO()
    call_command("mail_auth_server", "--ping", "--socket", str(mail_stack.verifier_socket), stdout=out)
    assert "1 app passwords" in out.getvalue()
    # What `doveadm auth cache flush erin@example.com` does: the cached login goes.
    assert run_coroutine(dovecot.flush(str(mail_stack.master_socket), ["erin@example.com"])) >= 1
    assert run_coroutine(dovecot.flush(str(mail_stack.master_socket), ["erin@example.com"])) == 0
