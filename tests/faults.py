"""Faults injected into real processes: a broker of our own to restart, a Celery beat, cut database connections.

Shared by tests/integration/test_faults.py (small campaigns) and bench/recovery.py (2,000 recipients).
Nothing here touches the shared Redis or PostgreSQL servers: the broker that is stopped is a
``redis-server`` of the run's own (``tests.redisserver.RedisProcess``, restarted empty), and only the test
database's connections are cut.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.services import ROOT

# Beat runs only the ticks that send (not DNSBL sweeps or load samples of this machine).
SENDING_TICKS = {"TEST_BEAT_ENTRIES": "policies-tick,outbox-tick"}
# Short ticks and heartbeats (settings, not sleeps): recovery happens at the first tick after the evidence.
FAST_RECOVERY = {
    "CAMPAIGN_TICK_SECONDS": "2",
    "OUTBOX_TICK_SECONDS": "2",
    "WORKER_HEARTBEAT_SECONDS": "1",
    "WORKER_MISSED_BEATS": "3",
}


class BeatProcess:
    """A real ``celery beat`` in its own process group, logging to a file (its schedule from the environment)."""

    def __init__(self, env: dict[str, str], work: Path) -> None:
        self.env = env
        self.log_path = work / "beat.log"
        self.schedule = work / "beat-schedule"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> BeatProcess:
        log = self.log_path.open("ab")
        cmd = [sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO",
               "--schedule", str(self.schedule), "--pidfile", ""]  # fmt: skip
        self.process = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while b"beat: Starting" not in self.log_path.read_bytes():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"celery beat did not start:\n{self.log()}")
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def process_env(database_url: str, broker_url: str, smtp_env: dict[str, str], *, fast: bool = True) -> dict[str, str]:
    """Environment for a worker or beat of a fault run: the run's database, broker and SMTP server.

    ``fast``: ticks and heartbeats shortened (tests); otherwise the production defaults (the benchmark).
    """
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "PYTHONPATH": str(ROOT),
        **smtp_env,
        **SENDING_TICKS,
        **(FAST_RECOVERY if fast else {}),
    }


@dataclass
class Outcome:
    """What a campaign's recipients got after a fault: per recipient, every message counted."""

    lost: int  # recipients with no message whose row is not "delivery uncertain"
    duplicated: int  # messages beyond the first to one recipient
    uncertain: int  # rows "delivery uncertain" (their message may or may not have arrived)
    uncertain_arrived: int  # of those, how many the server did accept (IT would find them in its log)
    statuses: dict
    last_arrival: float | None  # time.monotonic() of the last message the server accepted

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0


def outcome(emails: list[str], smtp) -> Outcome:
    from policies.models import Delivery

    messages = smtp.messages
    received = Counter(address for mail in messages for address in mail.rcpt_tos)
    uncertain = set(
        Delivery.objects.filter(status=Delivery.Status.UNCERTAIN).values_list("recipient__email", flat=True)
    )
    return Outcome(
        lost=sum(1 for email in emails if received[email] == 0 and email not in uncertain),
        duplicated=sum(n - 1 for n in received.values() if n > 1),
        uncertain=len(uncertain),
        uncertain_arrived=sum(1 for email in uncertain if received[email]),
        statuses=dict(Counter(Delivery.objects.values_list("status", flat=True))),
        last_arrival=max((mail.received_at for mail in messages), default=None),
    )


def settled(total: int) -> bool:
    """Every delivery is sent or uncertain (nothing pending, sending or failed is left)."""
    from policies.models import Delivery

    done = Delivery.objects.filter(status__in=[Delivery.Status.SENT, Delivery.Status.UNCERTAIN]).count()
    return done == total
