"""The policy service's decision: request + snapshot + counts in, an answer out. No I/O, no Django.

For a recipient (``RCPT``) of an authenticated login, in this order (docs/sending.md has the table):

1. sending suspended (by the burst rule or IT staff) -> ``REJECT 5.7.1``;
2. a burst: distinct recipients tried in the last hour reach the person's burst threshold (the burst
   multiplier times their usual hour, at least the smallest usual hour) -> ``REJECT 5.7.1``, and the
   server suspends the person's sending;
3. envelope sender not the person's own address, an alias or a shared mailbox of theirs -> ``553 5.7.1``
   (as Postfix's ``reject_sender_login_mismatch``; the null sender of bounces and receipts is allowed);
4. messages in the last minute (at a message's first recipient), recipients in the last hour, in the
   last day: one more would pass the limit -> ``DEFER 4.7.1`` (the mail program keeps the message and
   shows the text);
5. otherwise ``DUNNO`` (Postfix goes on with its other rules), noting the soft marks this recipient
   reaches.

At the end of a message (``END-OF-MESSAGE``) a suspended person's message is refused (a burst found while
it was being written); any other is counted and let through. A login the portal does not know (mailbox
passwords still accepted for people not in the portal) gets the organisation's limits only: no sender
rule, no burst rule (there is nothing to suspend). Relay attempts (``policy_context=relay``, the
position ``mail_policy_config`` prints in ``smtpd_relay_restrictions``) are counted and answered
``DUNNO``: Postfix's own ``reject_unauth_destination`` after it refuses them, also when the service is down.
Everything else (unauthenticated mail for local mailboxes, other protocol states) is ``DUNNO``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from accounts.addresses import canonical
from monitoring.sending.policy.protocol import PolicyRequest

DUNNO = "DUNNO"
RELAY_CONTEXT = "relay"
HOUR, DAY, MINUTE, SENDER, SUSPENDED = "hour", "day", "minute", "sender", "suspended"
LOGIN_CACHE_SIZE = 50_000


class Kind:
    ACCEPTED = "accepted"  # a recipient let through (counted)
    DEFERRED = "deferred"  # a limit reached
    REFUSED = "refused"  # sender mismatch, or sending suspended
    BURST = "burst"  # refused, and the person's sending is to be suspended
    MESSAGE = "message"  # the end of a message let through (counted)
    RELAY = "relay"  # an unauthenticated relay attempt (counted per client address)
    IGNORED = "ignored"  # nothing for the guard: DUNNO
    NOT_READY = "not ready"  # no data loaded yet: DUNNO, as when the service is down


@dataclass(frozen=True, slots=True)
class Limits:
    recipients_per_hour: int
    recipients_per_day: int
    messages_per_minute: int


@dataclass(frozen=True, slots=True)
class Rules:
    defaults: Limits
    soft_mark_percent: int = 80
    burst_multiplier: int = 10
    burst_floor: int = 30
    allow_subaddress: bool = True

    def burst_threshold(self, usual_hour: int | None) -> int:
        return self.burst_multiplier * max(usual_hour or 0, self.burst_floor)


@dataclass(frozen=True, slots=True)
class Sender:
    """One portal user as the guard sees them (canonical addresses only)."""

    id: int
    email: str
    addresses: frozenset[str]
    limits: Limits
    burst_threshold: int
    usual_hour: int | None = None
    suspended: bool = False


@dataclass
class Snapshot:
    version: tuple[int, int]
    rules: Rules
    senders_by_login: dict[str, Sender] = field(default_factory=dict)
    senders_by_id: dict[int, Sender] = field(default_factory=dict)
    loaded_at: float = 0.0
    _logins: dict[str, Sender | None] = field(default_factory=dict, repr=False)

    def sender_for(self, login: str) -> Sender | None:
        """The person a SASL login name means (its canonical form, as the verifier looks it up)."""
        try:
            return self._logins[login]
        except KeyError:
            found = self.senders_by_login.get(canonical(login))
            if len(self._logins) < LOGIN_CACHE_SIZE:
                self._logins[login] = found
            return found

    def mark_suspended(self, user_ids: set[int]) -> None:
        """Refuse these people at once (a burst found here, not yet written to the database and reloaded)."""
        for user_id in user_ids:
            sender = self.senders_by_id.get(user_id)
            if sender is None or sender.suspended:
                continue
            suspended = replace(sender, suspended=True)
            self.senders_by_id[user_id] = suspended
            for name in [name for name, found in self.senders_by_login.items() if found.id == user_id]:
                self.senders_by_login[name] = suspended
        self._logins.clear()


@dataclass(frozen=True, slots=True)
class Counts:
    """The sender's figures before this request (``tried_hour`` includes this recipient)."""

    recipients_hour: float = 0.0
    recipients_day: float = 0.0
    messages_minute: float = 0.0
    tried_hour: float = 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str
    kind: str
    login: str = ""
    sender: Sender | None = None
    rule: str = ""  # hour, day, minute (deferred); sender, suspended (refused)
    limit: int = 0  # the limit reached, for the message and the dashboard
    new_message: bool = False  # an accepted first recipient starts a message (messages per minute)
    soft_marks: tuple[tuple[str, int], ...] = ()  # (rule, limit) whose soft mark this recipient reaches


IGNORE = Verdict(DUNNO, Kind.IGNORED)
NOT_READY = Verdict(DUNNO, Kind.NOT_READY)

_LIMIT_TEXT = {
    HOUR: "{} recipients per hour",
    DAY: "{} recipients per day",
    MINUTE: "{} messages per minute",
}
SUSPENDED_TEXT = "REJECT 5.7.1 Sending from this account is suspended (possibly compromised); contact IT"
BURST_TEXT = "REJECT 5.7.1 Unusual sending volume: sending from this account is suspended; contact IT"


def defer_action(rule: str, limit: int) -> str:
    return f"DEFER 4.7.1 Sending limit reached ({_LIMIT_TEXT[rule].format(limit)}), contact IT"


def sender_action(address: str, login: str) -> str:
    shown = address.replace("<", "").replace(">", "")[:200]
    return f"553 5.7.1 Sender address rejected: <{shown}> is not an address of {login[:200]}"


def may_send_as(sender: Sender, envelope_sender: str, allow_subaddress: bool) -> bool:
    if not envelope_sender:
        return True  # the null sender: bounces, read receipts
    if envelope_sender in sender.addresses:
        return True  # already canonical: the usual case, without the cost of canonical()
    address = canonical(envelope_sender)
    if address in sender.addresses:
        return True
    if allow_subaddress:
        local, at, domain = address.rpartition("@")
        if at and "+" in local:
            return f"{local.split('+', 1)[0]}@{domain}" in sender.addresses
    return False


def soft_mark(limit: int, percent: int) -> int:
    return max(1, math.ceil(limit * percent / 100))


def authenticated_login(request: PolicyRequest) -> str:
    """The login whose counters a request needs (a recipient of an authenticated client), else ''."""
    if request.protocol_state == "RCPT" and request.sasl_username and request.policy_context != RELAY_CONTEXT:
        return request.sasl_username
    return ""


def decide(request: PolicyRequest, snapshot: Snapshot | None, counts: Counts, *, first_recipient: bool) -> Verdict:
    if request.policy_context == RELAY_CONTEXT:
        return Verdict(DUNNO, Kind.RELAY) if request.protocol_state == "RCPT" else IGNORE
    login = request.sasl_username
    if not login or request.protocol_state not in ("RCPT", "END-OF-MESSAGE"):
        return IGNORE
    if snapshot is None:
        return NOT_READY
    sender = snapshot.sender_for(login)
    if request.protocol_state == "END-OF-MESSAGE":
        if sender is not None and sender.suspended:
            return Verdict(SUSPENDED_TEXT, Kind.REFUSED, login, sender, SUSPENDED)
        return Verdict(DUNNO, Kind.MESSAGE, login, sender)
    rules = snapshot.rules
    if sender is not None:
        if sender.suspended:
            return Verdict(SUSPENDED_TEXT, Kind.REFUSED, login, sender, SUSPENDED)
        if counts.tried_hour >= sender.burst_threshold:
            return Verdict(BURST_TEXT, Kind.BURST, login, sender, SUSPENDED, sender.burst_threshold)
        if not may_send_as(sender, request.sender, rules.allow_subaddress):
            return Verdict(sender_action(request.sender, login), Kind.REFUSED, login, sender, SENDER)
    limits = sender.limits if sender is not None else rules.defaults
    checks = [
        (HOUR, counts.recipients_hour, limits.recipients_per_hour),
        (DAY, counts.recipients_day, limits.recipients_per_day),
    ]
    if first_recipient:
        checks.insert(0, (MINUTE, counts.messages_minute, limits.messages_per_minute))
    marks = []
    for rule, value, limit in checks:
        if value + 1 > limit:
            return Verdict(defer_action(rule, limit), Kind.DEFERRED, login, sender, rule, limit)
        if value < soft_mark(limit, rules.soft_mark_percent) <= value + 1:
            marks.append((rule, limit))
    return Verdict(DUNNO, Kind.ACCEPTED, login, sender, new_message=first_recipient, soft_marks=tuple(marks))
