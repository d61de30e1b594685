"""Celery tasks of the DNS block lists: thin wrappers around plain functions (which the tests call).

Task names changed when monitoring became two apps ("monitoring.dnsbl_tick" -> "dnsbl.tick",
"monitoring.run_dnsbl_sweep" -> "dnsbl.run_sweep"). A message still queued under an old name when
the new worker starts is an unregistered task to it: Celery logs it and drops it. Nothing is lost
for good, because the work lives in the database, not in the message: beat sends the next "dnsbl.tick"
within a minute, and that tick hands every sweep still queued (after 2 minutes, for 30 minutes) to
the broker again under the new name; a sweep that was running when the old worker stopped shows no
more progress and is handed over again 3 minutes later (``sweep.SILENT_AFTER``), or marked failed
after 30 minutes; an unsent alert is retried by every tick (``sweep.tick``).
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="dnsbl.tick", acks_late=False, ignore_result=True)
def dnsbl_tick() -> None:
    from monitoring.dnsbl.sweep import tick

    tick()


@shared_task(name="dnsbl.run_sweep", ignore_result=True)
def run_dnsbl_sweep(sweep_id: int) -> None:
    from monitoring.dnsbl.sweep import run_sweep

    run_sweep(sweep_id)
