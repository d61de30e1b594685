"""The sending guard in the real mail path: Postfix asks the real policy service, people send with smtplib.

The stack (tests/mailserver.py) is Dovecot + Postfix submission + the app-password verifier, configured
from ``mail_auth_config``; ``mail_policy_config``'s lines put the guard into it (tests/policyservice.py),
and ``manage.py mail_policy_server`` runs as its own process on the test database, started per test.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts import app_passwords
from accounts.models import AppPassword
from monitoring.sending.models import (
    PolicyRefusal,
    RelayAttempt,
    SenderAlias,
    SendingHour,
    SendingSettings,
    SendingSuspension,
)
from portal.models import Heartbeat, OutboxMessage
from tests.mailclients import random_source, smtp_send
from tests.mailserver import _stack_env
from tests.policyservice import PolicyServiceProcess, wire_postfix
from tests.services import free_port, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def guard_port():
    return free_port()


@pytest.fixture
def guard(mail_stack, guard_port, tmp_path):
    """The policy service on the module's port, Postfix asking it on both submission ports."""
    if not getattr(mail_stack, "_guard_wired", False):
        wire_postfix(mail_stack, f"127.0.0.1:{guard_port}", timeout=5, relay=True)
        mail_stack._guard_wired = True
    service = PolicyServiceProcess(_stack_env(), tmp_path / "policy.log")
    service.port, service.listen = guard_port, f"127.0.0.1:{guard_port}"
    service.start()
    yield service
    service.stop()


def limits(**values):
    SendingSettings.store(**values)


@pytest.fixture
def erin(make_user, mail_stack):
    return make_user("erin@example.com", first_name="Erin")


@pytest.fixture
def it_person(make_user, mail_stack):
    """Someone who gets IT alerts by email (an accepted account of IT staff)."""
    return make_user("it@example.com", role="it_staff", password="it staff password 1")


def send(stack, guard, secret, *, sender="erin@example.com", to=("bob@elsewhere.test",), login="erin@example.com"):
    stack.sync()
    guard.sync()
    return smtp_send(stack.submission_port, login, secret, sender=sender, recipients=list(to))


def test_mail_under_the_limit_is_accepted_over_it_deferred_and_the_soft_mark_alerts_it_once(
    mail_stack, guard, erin, it_person
):
    limits(recipients_per_hour=5, recipients_per_day=100, soft_mark_percent=60)
    secret = app_passwords.create(erin, name="Laptop", can_read=True, can_send=True).secret
    for number in range(5):
        assert send(mail_stack, guard, secret, to=[f"friend{number}@elsewhere.test"]) == ("ok", "")
    outcome, words = send(mail_stack, guard, secret, to=["one-more@elsewhere.test"])
    assert outcome == "deferred"
    assert words.startswith("450 4.7.1") and "Sending limit reached (5 recipients per hour), contact IT" in words

    hour = wait_until(lambda: SendingHour.objects.filter(login="erin@example.com", deferred=1).first())
    assert (hour.messages, hour.recipients, hour.attempted, hour.user) == (5, 5, 6, erin)
    refusal = wait_until(lambda: PolicyRefusal.objects.filter(kind="hour").first())
    assert (refusal.login, refusal.detail, refusal.count) == ("erin@example.com", "5", 1)
    soft = wait_until(lambda: list(OutboxMessage.objects.filter(kind="sending-soft-mark")))
    assert len(soft) == 1 and "erin@example.com" in soft[0].subject
    assert OutboxMessage.objects.filter(kind="sending-limit-reached").count() == 1


def test_a_burst_suspends_the_sending_app_passwords_and_the_next_send_is_refused(mail_stack, guard, erin, it_person):
    limits(recipients_per_hour=100, burst_multiplier=2, burst_floor=4)  # a burst: 8 recipients in an hour
    laptop = app_passwords.create(erin, name="Laptop", can_read=True, can_send=True)
    app_passwords.create(erin, name="Phone", can_read=True, can_send=False)
    assert send(mail_stack, guard, laptop.secret, to=[f"a{n}@elsewhere.test" for n in range(4)]) == ("ok", "")
    outcome, words = send(mail_stack, guard, laptop.secret, to=[f"b{n}@elsewhere.test" for n in range(6)])
    assert outcome == "refused" and "5.7.1" in words

    suspension = wait_until(lambda: SendingSuspension.objects.filter(user=erin).first())
    assert suspension.is_open and suspension.suspended_by is None
    assert suspension.evidence["tried_last_hour"] >= 8 and suspension.evidence["threshold"] == 8
    states = dict(AppPassword.objects.filter(user=erin).values_list("name", "state"))
    assert states == {"Laptop": "suspended", "Phone": "active"}
    kinds = set(OutboxMessage.objects.values_list("kind", flat=True))
    assert {"sending-suspended", "sending-suspended-notice"} <= kinds

    # The verifier now refuses the password for sending: the next send fails at AUTH; reading goes on.
    assert send(mail_stack, guard, laptop.secret)[0] == "auth failed"
    assert mail_stack.imap("erin@example.com", laptop.secret) == "ok"


def test_a_forged_sender_is_refused_with_5_7_1_and_an_alias_is_accepted(mail_stack, guard, erin):
    SenderAlias.objects.create(user=erin, address="Sales.Erin@example.com")
    secret = app_passwords.create(erin, name="Laptop", can_read=True, can_send=True).secret
    assert send(mail_stack, guard, secret, sender="sales.erin@example.com") == ("ok", "")
    assert send(mail_stack, guard, secret, sender="erin+news@example.com") == ("ok", "")
    outcome, words = send(mail_stack, guard, secret, sender="ceo@example.com")
    assert outcome == "refused"
    assert words.startswith("553 5.7.1") and "<ceo@example.com> is not an address of erin@example.com" in words
    refusal = wait_until(lambda: PolicyRefusal.objects.filter(kind="sender").first())
    assert (refusal.detail, refusal.user) == ("ceo@example.com", erin)


def test_with_the_service_stopped_mail_still_flows_and_the_outage_is_reported(
    mail_stack, guard, erin, it_person, client
):
    from monitoring.serverload import mailsystem

    secret = app_passwords.create(erin, name="Laptop", can_read=True, can_send=True).secret
    assert send(mail_stack, guard, secret) == ("ok", "")
    wait_until(lambda: Heartbeat.objects.filter(name="mail_policy").exists())
    guard.stop()
    mail_stack.sync()
    assert smtp_send(mail_stack.submission_port, "erin@example.com", secret, sender="erin@example.com",
                     recipients=["bob@elsewhere.test"]) == ("ok", "")  # fmt: skip
    assert "warning: problem talking to server 127.0.0.1:" in mail_stack.log("postfix.log")

    later = timezone.now() + timedelta(minutes=5)
    with time_machine.travel(later):
        Heartbeat.beat("worker")
        Heartbeat.beat("beat")
        assert mailsystem.evaluate(None, now=later) == {"service:mail_policy": "raised"}
        health = client.get("/healthz").json()
    assert "mail_policy" in health["failing"]
    assert OutboxMessage.objects.filter(kind="monitoring-mail-down").exists()


def test_relay_attempts_from_outside_mynetworks_are_counted_per_client_address(mail_stack, guard):
    port = free_port()
    config = str(mail_stack.root / "postfix-conf")
    entry = f"127.0.0.1:{port}/inet=127.0.0.1:{port} inet n - n - - smtpd"
    subprocess.run(["/usr/sbin/postconf", "-c", config, "-M", entry], check=True, capture_output=True)
    mail_stack.postconf(mynetworks="127.0.0.1/32")
    mail_stack._wait_port(port, "Postfix port 25", lambda: mail_stack.log("postfix.log"))
    source = random_source()
    import smtplib

    for _ in range(3):
        with smtplib.SMTP("127.0.0.1", port, timeout=20, source_address=(source, 0)) as smtp:
            smtp.ehlo("prober.test")
            smtp.mail("spammer@elsewhere.test")
            code, words = smtp.rcpt("victim@another.test")
            assert code == 554 and b"Relay access denied" in words
    row = wait_until(lambda: RelayAttempt.objects.filter(client_address=source, attempts=3).first())
    assert (row.last_sender, row.last_recipient, row.helo) == ("spammer@elsewhere.test", "victim@another.test",
                                                               "prober.test")  # fmt: skip
