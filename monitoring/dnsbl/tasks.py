"""Celery tasks of the monitoring app: thin wrappers around plain functions (which the tests call)."""

from __future__ import annotations

from celery import shared_task

# --- DNS block lists -------------------------------------------------------------------------------


@shared_task(name="monitoring.dnsbl_tick", acks_late=False, ignore_result=True)
def dnsbl_tick() -> None:
    from monitoring.dnsbl_sweep import tick

    tick()


@shared_task(name="monitoring.run_dnsbl_sweep", ignore_result=True)
def run_dnsbl_sweep(sweep_id: int) -> None:
    from monitoring.dnsbl_sweep import run_sweep

    run_sweep(sweep_id)


# --- Server load and drift ---------------------------------------------------------------------------


@shared_task(name="monitoring.load_tick", acks_late=False, ignore_result=True)
def load_tick() -> None:
    from monitoring.sampling import tick

    tick()


@shared_task(name="monitoring.run_drift_check", ignore_result=True)
def run_drift_check(check_id: int) -> None:
    from monitoring.drift import claim_and_run

    claim_and_run(check_id)
