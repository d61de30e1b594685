"""Celery tasks of the sending guard: thin wrappers around plain functions (which the tests call)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="sending.tick", acks_late=False, ignore_result=True)
def tick() -> None:
    from monitoring.sending.profiles import tick as run

    run()
