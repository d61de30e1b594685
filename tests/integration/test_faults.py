"""Faults mid-campaign, with real processes: every recipient ends with exactly one email (or a row that reads
"delivery uncertain"), and the last one arrives within two minutes of the fault clearing.

Real Celery workers and a real Celery beat (ticks and heartbeats shortened through settings, never by
sleeping out a timer), a Redis of the test's own as the broker (so it can be restarted empty), the aiosmtpd
server (slowed so that the fault lands mid-campaign) and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from policies.models import Campaign, Delivery, PolicySettings
from tests.faults import BeatProcess, outcome, process_env, settled
from tests.lostconnection import cut_database_connections
from tests.redisserver import RedisProcess
from tests.services import WorkerProcess, database_url, wait_until

pytestmark = [pytest.mark.integration]

Status = Delivery.Status
AUDIENCE = 60
RECOVERY_LIMIT = 120  # seconds from the fault clearing to the last delivery


class Rig:
    """A campaign's processes: our own broker, workers and beat on the test database."""

    def __init__(self, work: Path, smtp) -> None:
        self.work = work
        self.smtp = smtp
        self.broker = RedisProcess(work / "broker").start()
        self.workers: list[WorkerProcess] = []
        self.beat: BeatProcess | None = None

    def env(self) -> dict[str, str]:
        return process_env(database_url(connection.settings_dict), self.broker.url(), self.smtp.env())

    def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.env(), self.work / f"worker-{len(self.workers)}.log", 2, name="faults")
        self.workers.append(worker)
        return worker.start()

    def start_beat(self) -> BeatProcess:
        self.beat = BeatProcess(self.env(), self.work).start()
        return self.beat

    def describe(self) -> str:
        counts = dict(Delivery.objects.values_list("status").annotate(n=Count("pk")).order_by())
        errors = set(Delivery.objects.exclude(last_error="").values_list("last_error", flat=True)[:5])
        worker_log = self.workers[-1].log()[-2500:] if self.workers else ""
        return f"deliveries {counts}, errors {errors}, mails {len(self.smtp.messages)}\n{worker_log}"

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.beat:
            self.beat.stop()
        self.broker.stop()


@pytest.fixture
def rig(transactional_db, postgres, smtp_server, tmp_path):
    rig = Rig(tmp_path, smtp_server)
    yield rig
    rig.stop()


@pytest.fixture
def audience(make_user) -> list[str]:
    return [make_user(f"person{i:04d}@example.com").email for i in range(AUDIENCE)]


def due_campaign() -> Campaign:
    due = timezone.now() - dt.timedelta(seconds=1)
    return Campaign.objects.create(
        name="Remote access reminder",
        subject="Use webmail away from the office",
        message="Please use **webmail** with your one-time code.",
        starts_at=due,
        next_run_at=due,
    )


def until_mid_campaign(rig: Rig, count: int = 15) -> None:
    wait_until(lambda: len(rig.smtp.messages) >= count, timeout=60, describe=rig.describe)
    assert Delivery.objects.filter(status=Status.SENT).count() < AUDIENCE, "the campaign ended before the fault"


def assert_recovered(rig: Rig, audience: list[str], cleared: float) -> None:
    wait_until(lambda: settled(AUDIENCE), timeout=RECOVERY_LIMIT + 30, describe=rig.describe)
    time.sleep(1)  # anything that would arrive twice arrives now
    result = outcome(audience, rig.smtp)
    print(f"recovered {result.last_arrival - cleared:.1f} s after the fault cleared: {result}")
    assert result.duplicated == 0, result
    assert result.lost == 0, result
    assert result.uncertain <= 2, result  # at most one hand-over in flight per worker process
    assert result.last_arrival - cleared <= RECOVERY_LIMIT, result
    # A row sent after a failure shows no stale error.
    assert not Delivery.objects.filter(status=Status.SENT).exclude(last_error="").exists()


def test_a_worker_killed_mid_campaign_and_restarted_gives_everyone_exactly_one_email(rig, audience):
    rig.smtp.slow(0.05)
    worker = rig.start_worker()
    rig.start_beat()
    due_campaign()
    until_mid_campaign(rig)
    worker.kill()  # SIGKILL: its claims, its reserved tasks and its heartbeat stop at once
    rig.start_worker()
    cleared = time.monotonic()
    assert_recovered(rig, audience, cleared)


def test_a_broker_restarted_empty_mid_campaign_loses_nothing(rig, audience):
    rig.smtp.slow(0.05)
    rig.start_worker()
    rig.start_beat()
    due_campaign()
    until_mid_campaign(rig)
    rig.broker.stop()  # without a snapshot: every queued send task is gone with it
    time.sleep(2)  # the outage itself
    rig.broker.start()  # empty, on the same port
    cleared = time.monotonic()
    assert_recovered(rig, audience, cleared)


def test_a_refusing_mail_server_is_named_in_the_errors_and_everything_goes_once_it_is_back(rig, audience):
    conf = PolicySettings.load()
    conf.retry_backoff_seconds = 600  # far beyond two minutes: only the evidence that it is back can help
    conf.save()
    rig.smtp.stop()
    rig.start_worker()
    rig.start_beat()
    due_campaign()
    wait_until(
        lambda: Delivery.objects.filter(attempts__gte=1, status=Status.PENDING).count() == AUDIENCE,
        timeout=60,
        describe=rig.describe,
    )
    errors = set(Delivery.objects.values_list("last_error", flat=True))
    assert all(error.startswith("ConnectionRefusedError") for error in errors), errors
    time.sleep(5)  # refused for a while longer: the ticks probe and leave the backoff alone
    assert Delivery.objects.filter(status=Status.PENDING).count() == AUDIENCE
    rig.smtp.start()
    cleared = time.monotonic()
    assert_recovered(rig, audience, cleared)
    assert set(Delivery.objects.values_list("status", "last_error")) == {(Status.SENT, "")}


def test_database_connections_cut_mid_campaign_lose_nothing(rig, audience):
    rig.smtp.slow(0.05)
    rig.start_worker()
    rig.start_beat()
    due_campaign()
    until_mid_campaign(rig)
    assert cut_database_connections() >= 2  # the worker processes' and their heartbeats'
    cleared = time.monotonic()
    assert_recovered(rig, audience, cleared)
