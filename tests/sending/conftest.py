from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest

from monitoring.sending.policy.decision import Limits, Rules, Sender, Snapshot
from monitoring.sending.policy.server import PolicyServer

RULES = Rules(defaults=Limits(10, 100, 50), soft_mark_percent=80, burst_multiplier=2, burst_floor=10)


def make_snapshot(*emails: str, rules: Rules = RULES) -> Snapshot:
    """A snapshot of people with the given addresses (ids 1, 2, ...), no database needed."""
    snapshot = Snapshot(version=(1, 1), rules=rules)
    for pk, email in enumerate(emails, start=1):
        sender = Sender(pk, email, frozenset({email}), rules.defaults, rules.burst_threshold(None))
        snapshot.senders_by_id[pk] = sender
        snapshot.senders_by_login[email] = sender
    return snapshot


@pytest.fixture
def run_policy_server() -> Iterator[Callable[..., PolicyServer]]:
    """Start ``PolicyServer``s in threads of their own (``listen`` defaults to a free port); stopped at the end.

    Without ``load`` the server serves ``make_snapshot("erin@example.com")``; polling and writing wait an hour,
    so a test that does not need the database never reaches it."""
    started: list[tuple[PolicyServer, threading.Thread]] = []

    def start(**options) -> PolicyServer:
        options.setdefault("listen", "127.0.0.1:0")
        options.setdefault("load", lambda: make_snapshot("erin@example.com"))
        options.setdefault("poll_seconds", 3600)
        options.setdefault("write_seconds", 3600)
        server = PolicyServer(**options)
        ready = threading.Event()
        thread = threading.Thread(target=lambda: asyncio.run(server.run(ready=ready.set)), daemon=True)
        thread.start()
        assert ready.wait(10), "the policy server did not start"
        for _ in range(100):
            if server.snapshot is not None:
                break
            threading.Event().wait(0.02)
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.stop()
        thread.join(15)
