"""Upgrading across the split: messages queued under the old task names are dropped, and the ticks redo the work.

A real worker on Redis receives a message named as before the split ("monitoring.run_dnsbl_sweep",
"monitoring.run_drift_check"); it logs it as unregistered and drops it (not redelivered for ever), and
the work, kept in the database, is done after the next tick under the new names.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from monitoring.dnsbl import sweep as dnsbl_sweep
from monitoring.dnsbl.models import DnsblSchedule, DnsblSweep
from monitoring.serverload.models import DriftCheck, LoadSettings
from monitoring.serverload.tasks import load_tick
from tests.dnsserver import ip_zone
from tests.services import wait_until

pytestmark = pytest.mark.integration


def _dropped(worker, celery_app, name: str) -> None:
    """The worker saw the old-name message, called it unregistered, and nothing is left in the queue."""
    wait_until(lambda: f"Received unregistered task of type '{name}'" in worker.log_path.read_text())
    broker = redis.Redis.from_url(celery_app.conf.broker_url)
    assert broker.llen("celery") == 0 and broker.hlen("unacked") == 0  # rejected, not waiting to come back


def test_a_sweep_sent_under_the_old_name_runs_after_the_next_tick(
    celery_worker_factory, celery_app, dns_server, dnsbl_catalogue
):
    dnsbl_catalogue({"zone": "bl.test", "codes": {"127.0.0.2": "Spam source"}})
    server = dns_server([ip_zone("bl.test", {"198.51.100.77": (["127.0.0.2"], "Trap hit")})])
    DnsblSchedule.objects.create(pk=1, next_run_at=timezone.now() + timedelta(hours=1))  # no scheduled sweep here
    sweep = DnsblSweep.objects.create(
        kind="check", targets=["198.51.100.77"], created_at=timezone.now() - dnsbl_sweep.RESEND_AFTER * 2
    )
    celery_app.send_task("monitoring.run_dnsbl_sweep", args=[sweep.pk])
    worker = celery_worker_factory(concurrency=1, env={"DNSBL_NAMESERVERS": server.address})

    _dropped(worker, celery_app, "monitoring.run_dnsbl_sweep")
    sweep.refresh_from_db()
    assert sweep.state == "queued"

    dnsbl_sweep.tick()  # what beat's "dnsbl.tick" does every minute: hands the waiting sweep over again
    wait_until(lambda: DnsblSweep.objects.get(pk=sweep.pk).state == "done")
    assert list(sweep.results.values_list("status", flat=True)) == ["listed"]


def test_a_drift_check_sent_under_the_old_name_runs_at_the_next_load_tick(celery_worker_factory, celery_app, tmp_path):
    watched = tmp_path / "main.cf"
    watched.write_text("smtpd_banner = $myhostname\n")
    LoadSettings.objects.update_or_create(
        pk=1, defaults={"watched_files": str(watched), "next_drift_check_at": timezone.now() + timedelta(hours=1)}
    )
    check = DriftCheck.objects.create(trigger="patched")
    celery_app.send_task("monitoring.run_drift_check", args=[check.pk])
    worker = celery_worker_factory(concurrency=1)

    _dropped(worker, celery_app, "monitoring.run_drift_check")
    assert DriftCheck.objects.get(pk=check.pk).status == "pending"

    load_tick.delay()  # "serverload.tick", as beat sends it every 15 seconds
    wait_until(lambda: DriftCheck.objects.get(pk=check.pk).status == "done")
    assert DriftCheck.objects.get(pk=check.pk).files_checked == 1
