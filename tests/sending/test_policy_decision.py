"""The policy decision: request + snapshot + counts in, answer out (no I/O)."""

from __future__ import annotations

import pytest

from monitoring.sending.policy.decision import (
    Counts,
    Kind,
    Limits,
    Rules,
    Sender,
    Snapshot,
    decide,
    may_send_as,
    soft_mark,
)
from monitoring.sending.policy.protocol import PolicyRequest

RULES = Rules(defaults=Limits(10, 50, 3), soft_mark_percent=80, burst_multiplier=10, burst_floor=3)
ERIN = Sender(
    id=7,
    email="erin@example.com",
    addresses=frozenset({"erin@example.com", "sales@example.com"}),
    limits=Limits(10, 50, 3),
    burst_threshold=RULES.burst_threshold(None),
)


def snapshot(*senders: Sender) -> Snapshot:
    found = Snapshot(version=(1, 1), rules=RULES)
    for sender in senders:
        found.senders_by_id[sender.id] = sender
        found.senders_by_login[sender.email] = sender
    return found


def rcpt(login="erin@example.com", sender="erin@example.com", **extra) -> PolicyRequest:
    return PolicyRequest(
        protocol_state="RCPT", sasl_username=login, sender=sender, recipient="bob@example.org", **extra
    )


def test_a_recipient_within_the_limits_is_let_through_and_counted():
    verdict = decide(rcpt(), snapshot(ERIN), Counts(1, 1, 0, 2), first_recipient=True)
    assert (verdict.action, verdict.kind, verdict.sender, verdict.new_message) == ("DUNNO", Kind.ACCEPTED, ERIN, True)


def test_the_login_is_found_by_its_canonical_form():
    verdict = decide(rcpt(login="ERIN@Example.COM"), snapshot(ERIN), Counts(), first_recipient=True)
    assert verdict.sender == ERIN


@pytest.mark.parametrize(
    ("counts", "first", "rule", "limit"),
    [
        (Counts(recipients_hour=10), False, "hour", 10),
        (Counts(recipients_hour=9.5), False, "hour", 10),
        (Counts(recipients_day=50), False, "day", 50),
        (Counts(messages_minute=3), True, "minute", 3),
    ],
)
def test_one_more_than_a_limit_is_deferred_with_4_7_1(counts, first, rule, limit):
    verdict = decide(rcpt(), snapshot(ERIN), counts, first_recipient=first)
    assert verdict.kind == Kind.DEFERRED and (verdict.rule, verdict.limit) == (rule, limit)
    assert verdict.action.startswith("DEFER 4.7.1 Sending limit reached (") and verdict.action.endswith("contact IT")


def test_messages_per_minute_count_only_at_a_messages_first_recipient():
    assert decide(rcpt(), snapshot(ERIN), Counts(messages_minute=3), first_recipient=False).kind == Kind.ACCEPTED


def test_the_soft_mark_is_noted_once_when_a_recipient_reaches_it():
    assert soft_mark(10, 80) == 8
    marks = [decide(rcpt(), snapshot(ERIN), Counts(value), first_recipient=False).soft_marks for value in range(9)]
    assert marks == [()] * 7 + [(("hour", 10),)] + [()]


def test_a_sender_address_not_the_logins_is_refused_with_5_7_1():
    verdict = decide(rcpt(sender="ceo@example.com"), snapshot(ERIN), Counts(), first_recipient=True)
    assert verdict.kind == Kind.REFUSED and verdict.rule == "sender"
    assert (
        verdict.action == "553 5.7.1 Sender address rejected: <ceo@example.com> is not an address of erin@example.com"
    )


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("erin@example.com", True),
        ("Erin@EXAMPLE.com", True),
        ("sales@example.com", True),
        ("erin+news@example.com", True),
        ("", True),  # the null sender: bounces and read receipts
        ("erin@example.org", False),
        ("erinx@example.com", False),
        ("someone+erin@example.com", False),
    ],
)
def test_own_address_aliases_sub_addresses_and_the_null_sender_may_be_used(address, allowed):
    assert may_send_as(ERIN, address, allow_subaddress=True) is allowed


def test_sub_addresses_can_be_refused():
    assert not may_send_as(ERIN, "erin+news@example.com", allow_subaddress=False)


def test_a_burst_refuses_and_asks_for_a_suspension_before_any_other_rule():
    assert ERIN.burst_threshold == 30
    verdict = decide(rcpt(sender="ceo@example.com"), snapshot(ERIN), Counts(tried_hour=30), first_recipient=True)
    assert verdict.kind == Kind.BURST and verdict.action.startswith("REJECT 5.7.1")
    assert decide(rcpt(), snapshot(ERIN), Counts(tried_hour=29), first_recipient=True).kind == Kind.ACCEPTED


def test_the_burst_threshold_is_the_multiplier_times_the_usual_hour_or_the_floor():
    assert (RULES.burst_threshold(None), RULES.burst_threshold(2), RULES.burst_threshold(12)) == (30, 30, 120)


def test_a_suspended_person_is_refused_at_every_recipient_and_at_the_end_of_a_message():
    found = snapshot(ERIN)
    found.mark_suspended({ERIN.id})
    assert decide(rcpt(), found, Counts(), first_recipient=True).action.startswith("REJECT 5.7.1 Sending from this")
    end = PolicyRequest(protocol_state="END-OF-MESSAGE", sasl_username="erin@example.com", recipient_count=3)
    assert decide(end, found, Counts(), first_recipient=False).kind == Kind.REFUSED


def test_an_unknown_login_gets_the_organisations_limits_only():
    assert decide(
        rcpt(login="scanner", sender="anything@x.test"), snapshot(ERIN), Counts(), first_recipient=True
    ).kind == (Kind.ACCEPTED)
    verdict = decide(rcpt(login="scanner"), snapshot(ERIN), Counts(recipients_hour=10), first_recipient=False)
    assert (verdict.kind, verdict.sender) == (Kind.DEFERRED, None)


def test_relay_attempts_are_counted_and_left_to_postfix():
    relay = PolicyRequest(protocol_state="RCPT", policy_context="relay", client_address="203.0.113.9")
    assert (
        decide(relay, None, Counts(), first_recipient=True).kind,
        decide(relay, None, Counts(), first_recipient=True).action,
    ) == (
        Kind.RELAY,
        "DUNNO",
    )


@pytest.mark.parametrize(
    "request_",
    [
        PolicyRequest(protocol_state="RCPT", sender="x@example.org"),  # unauthenticated: mail for us
        PolicyRequest(protocol_state="CONNECT", sasl_username="erin@example.com"),
        PolicyRequest(protocol_state="DATA", sasl_username="erin@example.com"),
    ],
)
def test_anything_else_is_dunno(request_):
    assert decide(request_, snapshot(ERIN), Counts(), first_recipient=True).kind == Kind.IGNORED


def test_without_data_loaded_it_answers_as_if_it_were_down():
    assert decide(rcpt(), None, Counts(), first_recipient=True) == decide(rcpt(), None, Counts(), first_recipient=True)
    assert decide(rcpt(), None, Counts(), first_recipient=True).kind == Kind.NOT_READY
