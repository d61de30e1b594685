"""Celery tasks: thin wrappers around policies.dispatch (which the tests call directly)."""

from __future__ import annotations

from celery import shared_task

from policies import dispatch


@shared_task(name="policies.tick", acks_late=False, ignore_result=True)
def tick() -> None:
    # Beat sends this every minute; a lost tick is simply the next minute's work.
    dispatch.tick()


@shared_task(name="policies.fan_out", acks_late=True, ignore_result=True)
def fan_out(run_id: int) -> None:
    dispatch.fan_out(run_id)


@shared_task(name="policies.send_deliveries", acks_late=True, ignore_result=True)
def send_deliveries(delivery_ids: list[int]) -> None:
    # A lost retry is picked up by the tick's recovery (portal.sending.to_publish).
    dispatch.enqueue_retries(dispatch.send_deliveries(delivery_ids))
