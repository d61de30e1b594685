"""What the policy service remembers between database writes. No I/O on the hot path.

The event loop calls ``note`` for every answer (dictionary updates only). Every few seconds the server
``take``s a ``Batch`` and ``write``s it in its database thread (``monitoring.sending.batches``):

- totals per login and hour (``SendingHour``): one upsert per login and hour in the batch, never one
  write per message;
- deferrals and refusals summed per (login, rule, detail, client address) (``PolicyRefusal`` and the
  audit log);
- relay attempts per client address and hour (``RelayAttempt`` and the audit log);
- soft marks and limits reached, each once per person, rule and window (an IT alert);
- bursts: the person's sending is suspended (app passwords, the banner, the user and IT told).

If the process dies, what was not yet written is lost: at most one batch interval (``--write-interval``,
10 s by default) of totals, refusals and relay attempts, and an alert or a suspension decided in that
interval. Nothing that decides an answer lives here: the in-memory counters are lost too (limits start
again from zero, unless they are in Redis), the snapshot is reloaded at start, and a burst still going
on is found again by the new process. A batch that fails to write (database down) is put back and
retried with the next one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from monitoring.sending.policy.decision import DAY, HOUR, MINUTE, SENDER, Kind, Verdict
from monitoring.sending.policy.protocol import PolicyRequest

MAX_KEYS = 20_000  # refusal and relay groups per batch; beyond, only counted
WINDOW = {HOUR: 3600, MINUTE: 3600, DAY: 86400}  # an alert about a limit: once per person, rule and window


@dataclass
class Totals:
    user_id: int | None
    messages: int = 0
    recipients: int = 0
    attempted: int = 0
    deferred: int = 0
    refused: int = 0


@dataclass
class Refusals:
    user_id: int | None
    count: int = 0
    first_at: float = 0.0
    last_at: float = 0.0


@dataclass
class Relay:
    attempts: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    sender: str = ""
    recipient: str = ""
    helo: str = ""


@dataclass(frozen=True)
class LimitEvent:
    """A soft mark reached (``soft=True``) or a limit reached, the first time in its window."""

    soft: bool
    login: str
    user_id: int | None
    rule: str
    limit: int
    window_start: int  # Unix seconds: the window the event belongs to (its outbox key)
    at: float


@dataclass(frozen=True)
class Burst:
    login: str
    user_id: int
    tried: int
    threshold: int
    usual_hour: int | None
    client_address: str
    at: float


@dataclass
class Batch:
    hours: dict[tuple[str, int], Totals] = field(default_factory=dict)  # (login, hour start) ->
    # (login, rule, detail, client address as Postfix sent it: checked when written)
    refusals: dict[tuple[str, str, str, str], Refusals] = field(default_factory=dict)
    relay: dict[tuple[str, int], Relay] = field(default_factory=dict)  # (client address, hour start) ->
    limit_events: list[LimitEvent] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    dropped: int = 0
    malformed: int = 0

    def __bool__(self) -> bool:
        return bool(
            self.hours or self.refusals or self.relay or self.limit_events or self.bursts or self.dropped
            or self.malformed
        )  # fmt: skip


def client_ip(value: str) -> str:
    """A valid address or '' (Postfix sends ``unknown`` when it has none)."""
    try:
        return str(ipaddress.ip_address(value)) if value else ""
    except ValueError:
        return ""


class Recorder:
    def __init__(self) -> None:
        self.pending = Batch()
        self.alerted: dict[tuple[bool, str, str], int] = {}  # (soft, login, rule) -> window start alerted
        self.bursting: set[int] = set()  # people whose suspension is on its way to the database

    # --- event loop side -------------------------------------------------------------------

    def _totals(self, login: str, user_id: int | None, now: float) -> Totals:
        key = (login, int(now // 3600) * 3600)
        totals = self.pending.hours.get(key)
        if totals is None:
            totals = self.pending.hours[key] = Totals(user_id)
        return totals

    def note(self, verdict: Verdict, request: PolicyRequest, login: str, now: float, tried: float = 0.0) -> None:
        """Remember one answer; ``login`` is the canonical login the counters use, ``tried`` its burst figure."""
        kind = verdict.kind
        if kind == Kind.IGNORED or kind == Kind.NOT_READY:
            return
        if kind == Kind.RELAY:
            self._relay(request, now)
            return
        user_id = verdict.sender.id if verdict.sender else None
        totals = self._totals(login, user_id, now)
        if kind == Kind.MESSAGE:
            totals.messages += 1
            totals.recipients += request.recipient_count
            return
        totals.attempted += 1
        if kind == Kind.ACCEPTED:
            for rule, limit in verdict.soft_marks:
                self._limit_event(True, login, user_id, rule, limit, now)
            return
        if kind == Kind.DEFERRED:
            totals.deferred += 1
            self._limit_event(False, login, user_id, verdict.rule, verdict.limit, now)
        else:
            totals.refused += 1
        detail = request.sender[:254] if verdict.rule == SENDER else (str(verdict.limit) if verdict.limit else "")
        self._refusal(login, user_id, verdict.rule, detail, request.client_address[:64], now)
        if kind == Kind.BURST and verdict.sender is not None and verdict.sender.id not in self.bursting:
            self.bursting.add(verdict.sender.id)
            self.pending.bursts.append(
                Burst(login, verdict.sender.id, round(tried), verdict.sender.burst_threshold,
                      verdict.sender.usual_hour, request.client_address[:64], now)
            )  # fmt: skip

    def note_malformed(self) -> None:
        self.pending.malformed += 1

    def _limit_event(self, soft: bool, login: str, user_id: int | None, rule: str, limit: int, now: float) -> None:
        width = WINDOW[rule]
        window = int(now // width) * width
        if self.alerted.get((soft, login, rule)) == window:
            return
        self.alerted[(soft, login, rule)] = window
        self.pending.limit_events.append(LimitEvent(soft, login, user_id, rule, limit, window, now))

    def _refusal(self, login: str, user_id: int | None, rule: str, detail: str, ip: str, now: float) -> None:
        key = (login, rule, detail, ip)
        refusals = self.pending.refusals.get(key)
        if refusals is None:
            if len(self.pending.refusals) >= MAX_KEYS:
                self.pending.dropped += 1
                return
            refusals = self.pending.refusals[key] = Refusals(user_id, first_at=now)
        refusals.count += 1
        refusals.last_at = now

    def _relay(self, request: PolicyRequest, now: float) -> None:
        ip = client_ip(request.client_address)  # the row's key: only a valid address (rare: relay attempts)
        if not ip:
            return
        key = (ip, int(now // 3600) * 3600)
        relay = self.pending.relay.get(key)
        if relay is None:
            if len(self.pending.relay) >= MAX_KEYS:
                self.pending.dropped += 1
                return
            relay = self.pending.relay[key] = Relay(first_at=now)
        relay.attempts += 1
        relay.last_at = now
        relay.sender, relay.recipient, relay.helo = (
            request.sender[:254],
            request.recipient[:254],
            request.helo_name[:254],
        )

    def forget_alerts_before(self, now: float) -> None:
        """Drop alert memories of windows that are over (called now and then, to bound memory)."""
        self.alerted = {key: window for key, window in self.alerted.items() if now - window < 2 * 86400}

    def take(self) -> Batch:
        batch, self.pending = self.pending, Batch()
        return batch

    def written(self, batch: Batch) -> None:
        """The batch is in the database: its suspensions are the snapshot's business from now on."""
        self.bursting -= {burst.user_id for burst in batch.bursts}

    def put_back(self, batch: Batch) -> None:
        """A batch that could not be written: merge it into what is pending, to try again."""
        for key, totals in batch.hours.items():
            mine = self.pending.hours.setdefault(key, Totals(totals.user_id))
            mine.messages += totals.messages
            mine.recipients += totals.recipients
            mine.attempted += totals.attempted
            mine.deferred += totals.deferred
            mine.refused += totals.refused
        for key, refusals in batch.refusals.items():
            mine_r = self.pending.refusals.setdefault(key, Refusals(refusals.user_id, first_at=refusals.first_at))
            mine_r.count += refusals.count
            mine_r.first_at = min(mine_r.first_at, refusals.first_at)
            mine_r.last_at = max(mine_r.last_at, refusals.last_at)
        for key, relay in batch.relay.items():
            mine_relay = self.pending.relay.setdefault(key, Relay(first_at=relay.first_at))
            mine_relay.attempts += relay.attempts
            mine_relay.first_at = min(mine_relay.first_at, relay.first_at)
            if relay.last_at > mine_relay.last_at:
                mine_relay.last_at = relay.last_at
                mine_relay.sender, mine_relay.recipient, mine_relay.helo = relay.sender, relay.recipient, relay.helo
        self.pending.limit_events[:0] = batch.limit_events
        self.pending.bursts[:0] = batch.bursts
        self.pending.dropped += batch.dropped
        self.pending.malformed += batch.malformed
