"""Celery tasks of server load and drift: thin wrappers around plain functions (which the tests call).

Task names changed when monitoring became two apps ("monitoring.load_tick" -> "serverload.tick",
"monitoring.run_drift_check" -> "serverload.run_drift_check"). A message still queued under an old
name when the new worker starts is an unregistered task to it: Celery logs it and drops it. Nothing
is lost for good, because the work lives in the database, not in the message: beat sends the next
"serverload.tick" within 15 seconds; it samples when the sample is due (``LoadSettings.next_sample_at``)
and runs every drift check still pending, and one stuck "running" for 10 minutes again
(``drift.run_due``), so a "check now" whose task was dropped runs at that tick.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="serverload.tick", acks_late=False, ignore_result=True)
def load_tick() -> None:
    from monitoring.serverload.sampling import tick

    tick()


@shared_task(name="serverload.run_drift_check", ignore_result=True)
def run_drift_check(check_id: int) -> None:
    from monitoring.serverload.drift import claim_and_run

    claim_and_run(check_id)
