from __future__ import annotations

from celery import shared_task

from portal.models import Heartbeat


@shared_task(name="portal.tasks.heartbeat", acks_late=False, ignore_result=True)
def heartbeat() -> None:
    Heartbeat.beat("worker")
