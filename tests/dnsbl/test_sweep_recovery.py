"""Sweeps whose worker died (killed, or cut off from the database) are taken over within minutes, by
evidence (no progress for ``SILENT_AFTER``), and a run that was taken over stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from monitoring.dnsbl import sweep as dnsbl_sweep
from monitoring.dnsbl.models import DnsblResult, DnsblSchedule, DnsblSweep, MonitoredAddress
from monitoring.dnsbl.resolver import ResolverConfig
from tests.dnsserver import ip_zone
from tests.lostconnection import cut_connection

T0 = datetime(2026, 3, 2, 10, 42, tzinfo=UTC)


@pytest.fixture
def listed(dns_server, dnsbl_catalogue):
    dnsbl_catalogue({"zone": "bl.test"}, {"zone": "other.test"})
    dns_server([ip_zone("bl.test", {"192.0.2.25": (["127.0.0.2"], "Spam trap hit")}), ip_zone("other.test")])
    MonitoredAddress.objects.create(value="192.0.2.25")
    DnsblSchedule.objects.update_or_create(pk=1, defaults={"next_run_at": T0 + timedelta(days=1)})


def claimed_at(when: datetime) -> DnsblSweep:
    """A sweep a worker claimed at ``when`` (and then died: it never shows progress again)."""
    with time_machine.travel(when, tick=False):
        sweep = DnsblSweep.objects.create(kind=DnsblSweep.Kind.SCHEDULED)
        return dnsbl_sweep._claim(sweep.pk)


@pytest.mark.django_db
def test_a_silent_sweep_is_handed_over_again_and_taken_over(listed, celery_app, redis_server):
    import redis

    queue = redis.Redis.from_url(redis_server)
    dead = claimed_at(T0)
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        dnsbl_sweep.tick()
        assert dnsbl_sweep.run_sweep(dead.pk) is None  # a duplicate task: the sweep is still held
    assert queue.llen("celery") == 0  # still within SILENT_AFTER: its worker may be busy
    with time_machine.travel(T0 + timedelta(minutes=4), tick=False):
        dnsbl_sweep.tick()
        assert queue.llen("celery") == 1
        taken = dnsbl_sweep.run_sweep(dead.pk)
    assert taken.state == DnsblSweep.State.DONE
    assert taken.started_at == T0 + timedelta(minutes=4)
    assert DnsblResult.objects.filter(sweep=taken, status="listed").count() == 1


@pytest.mark.django_db
def test_a_run_that_was_taken_over_stores_nothing(listed):
    slow = claimed_at(T0)
    with time_machine.travel(T0 + timedelta(minutes=4), tick=False):
        taken = dnsbl_sweep.run_sweep(slow.pk)
    results = DnsblResult.objects.filter(sweep=taken).count()
    with pytest.raises(dnsbl_sweep.Superseded):
        dnsbl_sweep._run_monitoring(slow, ResolverConfig.from_settings())  # the slow run wakes up
    assert DnsblResult.objects.filter(sweep=taken).count() == results
    taken.refresh_from_db()
    assert (taken.state, taken.started_at) == (DnsblSweep.State.DONE, T0 + timedelta(minutes=4))


@pytest.mark.django_db(transaction=True)
def test_a_sweep_cut_off_from_the_database_is_queued_again_and_runs(postgres, listed, monkeypatch):
    progress = dnsbl_sweep._progress

    def cut_once(sweep):
        update = progress(sweep)
        calls = []

        def cut_then_update(done: int) -> None:
            if not calls:
                calls.append(done)
                cut_connection()
            update(done)

        return cut_then_update

    monkeypatch.setattr(dnsbl_sweep, "_progress", cut_once)
    sweep = DnsblSweep.objects.create(kind=DnsblSweep.Kind.MANUAL)
    assert dnsbl_sweep.run_sweep(sweep.pk) is None
    sweep.refresh_from_db()
    assert sweep.state == DnsblSweep.State.QUEUED

    monkeypatch.setattr(dnsbl_sweep, "_progress", progress)
    done = dnsbl_sweep.run_sweep(sweep.pk)  # what the tick's resend leads to
    assert done.state == DnsblSweep.State.DONE and done.error == ""
