"""The verifier's pure decision: every verdict from a fixed snapshot, no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts.mailauth import passwords
from accounts.mailauth.decision import (
    ACTIVE,
    REVOKED,
    SUSPENDED,
    PasswordFacts,
    Policy,
    Reason,
    Snapshot,
    UserFacts,
    Verdict,
    decide,
    find_password,
)
from accounts.mailauth.protocol import Verify

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SALT = bytes(range(16))
LAPTOP = "abcd-efgh-jkmn-pqrs-tuvw-xyza"
PHONE = "bbbb-cccc-dddd-eeee-ffff-gggg"
SCANNER = "hhhh-jjjj-kkkk-mmmm-nnnn-pppp"
OLD = "qqqq-rrrr-ssss-tttt-uuuu-vvvv"
PAUSED = "wwww-xxxx-yyyy-zzzz-aaaa-bbbb"


def facts(pk, secret, *, read=True, send=True, state=ACTIVE, user=1):
    digest = passwords.digest(SALT, passwords.normalise(secret))
    return PasswordFacts(pk, user, f"device {pk}", SALT, digest, read, send, state, False)


ALLOWED = Policy()


def snapshot(policy=ALLOWED):
    erin = UserFacts(1, "erin@example.com", True, "erin@example.com")
    gone = UserFacts(2, "gone@example.com", False, "gone@example.com")
    return Snapshot(
        version=5,
        policy=policy,
        users_by_login={"erin@example.com": erin, "gone@example.com": gone},
        users_by_id={1: erin, 2: gone},
        passwords_by_user={
            1: (
                facts(10, LAPTOP),
                facts(11, PHONE, send=False),
                facts(12, SCANNER, read=False),
                facts(13, OLD, state=REVOKED),
                facts(14, PAUSED, state=SUSPENDED),
            ),
            2: (facts(20, LAPTOP, user=2),),
        },
    )


def verify(password, login="erin@example.com", service="imap"):
    return Verify("1", service, login, "192.0.2.7", password)


REFUSED = Policy(mailbox="refused")


@pytest.mark.parametrize(
    ("password", "service", "verdict", "reason"),
    [
        (LAPTOP, "imap", Verdict.OK, Reason.APP_PASSWORD),
        (LAPTOP, "pop3", Verdict.OK, Reason.APP_PASSWORD),
        (LAPTOP, "smtp", Verdict.OK, Reason.APP_PASSWORD),
        (LAPTOP, "submission", Verdict.OK, Reason.APP_PASSWORD),
        (PHONE, "imap", Verdict.OK, Reason.APP_PASSWORD),
        (PHONE, "smtp", Verdict.FAIL, Reason.SCOPE_SEND),
        (SCANNER, "smtp", Verdict.OK, Reason.APP_PASSWORD),
        (SCANNER, "imap", Verdict.FAIL, Reason.SCOPE_READ),
        (LAPTOP, "lmtp", Verdict.FAIL, Reason.SERVICE),
        (OLD, "imap", Verdict.FAIL, Reason.REVOKED),
        (PAUSED, "smtp", Verdict.FAIL, Reason.SUSPENDED),
        (PAUSED, "submission", Verdict.FAIL, Reason.SUSPENDED),
        (PAUSED, "imap", Verdict.OK, Reason.APP_PASSWORD),  # suspended from sending, reading goes on
        ("the mailbox password", "imap", Verdict.FAIL, Reason.REFUSED),
    ],
)
def test_app_passwords_with_mailbox_passwords_refused(password, service, verdict, reason):
    answer = decide(verify(password, service=service), snapshot(REFUSED), NOW)
    assert (answer.verdict, answer.reason) == (verdict, reason)
    if verdict == Verdict.OK:
        assert answer.login == "erin@example.com"


def test_a_typed_app_password_may_differ_in_case_and_separators():
    for typed in (LAPTOP.upper(), LAPTOP.replace("-", ""), LAPTOP.replace("-", " ")):
        assert decide(verify(typed), snapshot(REFUSED), NOW).verdict == Verdict.OK


def test_while_mailbox_passwords_are_allowed_anything_else_goes_to_the_site_passdb():
    answer = decide(verify("the mailbox password"), snapshot(), NOW)
    assert (answer.verdict, answer.reason) == (Verdict.NEXT, Reason.MAILBOX_ALLOWED)
    # An app password's own refusal is final, not handed on.
    assert decide(verify(OLD), snapshot(), NOW).verdict == Verdict.FAIL


def test_mailbox_passwords_until_a_cut_off():
    policy = Policy(mailbox="until", mailbox_cutoff=NOW + timedelta(seconds=1))
    assert decide(verify("mailbox"), snapshot(policy), NOW).verdict == Verdict.NEXT
    assert decide(verify("mailbox"), snapshot(policy), NOW + timedelta(seconds=1)).verdict == Verdict.FAIL
    assert decide(verify("mailbox"), snapshot(Policy(mailbox="until")), NOW).verdict == Verdict.FAIL


def test_a_deactivated_user_gets_in_with_nothing_whatever_the_policy():
    for policy in (Policy(), REFUSED):
        for password in (LAPTOP, "mailbox password"):
            answer = decide(verify(password, login="gone@example.com"), snapshot(policy), NOW)
            assert (answer.verdict, answer.reason) == (Verdict.FAIL, Reason.DEACTIVATED)


def test_unknown_logins():
    assert decide(verify("x", login="nobody@example.com"), snapshot(REFUSED), NOW).verdict == Verdict.UNKNOWN
    answer = decide(verify("x", login="scanner@example.com"), snapshot(), NOW)
    assert (answer.verdict, answer.reason) == (Verdict.NEXT, Reason.NOT_A_PORTAL_USER)


def test_logins_are_matched_without_regard_to_case_or_spaces():
    assert decide(verify(LAPTOP, login=" Erin@Example.COM "), snapshot(), NOW).verdict == Verdict.OK


def test_without_a_snapshot_the_answer_is_a_temporary_failure_never_a_success():
    for password in (LAPTOP, "x"):
        answer = decide(verify(password), None, NOW)
        assert (answer.verdict, answer.reason) == (Verdict.TEMPFAIL, Reason.NOT_READY)


def test_find_password_ignores_what_cannot_be_an_app_password():
    candidates = snapshot().passwords_by_user[1]
    assert find_password(candidates, "short") is None
    assert find_password(candidates, "i" * 24) is None  # i is not in the alphabet
    assert find_password(candidates, LAPTOP).id == 10
