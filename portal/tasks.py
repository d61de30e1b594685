"""Celery tasks of the portal: the heartbeat and the outbox (thin wrappers; the tests call the functions)."""

from __future__ import annotations

from celery import shared_task

from portal import outbox
from portal.models import Heartbeat


@shared_task(name="portal.tasks.heartbeat", acks_late=False, ignore_result=True)
def heartbeat() -> None:
    Heartbeat.beat("worker")


@shared_task(name="portal.outbox_tick", acks_late=False, ignore_result=True)
def outbox_tick() -> None:
    # Beat sends this every 30 s; a lost tick is simply the next one's work. It only publishes: the
    # sends run in their own tasks, so a slow mail server never holds the tick.
    outbox.tick()


@shared_task(name="portal.send_emails", acks_late=True, ignore_result=True)
def send_emails(ids: list[int]) -> None:
    # Retries come from the tick (it publishes rows whose next attempt is due), not from countdowns.
    outbox.send_emails(ids)


@shared_task(name="portal.send_channel_message", acks_late=True, ignore_result=True)
def send_channel_message(message_id: int) -> None:
    # One task per channel message: a hanging endpoint holds only its own task, never email or other channels.
    outbox.send_channel_message(message_id)
