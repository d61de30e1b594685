"""The Celery application: tasks are autodiscovered from each app's tasks.py."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import beat_init, before_task_publish, worker_init, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

HEARTBEAT_TASK = "portal.tasks.heartbeat"

# Celery's signals are connected here, not in an AppConfig.ready(): beat fires beat_init before Django's
# apps are necessarily ready, and only the processes that import this module (worker, beat) need them.


def _alive(name: str) -> None:
    """Note that ``name`` (beat, the worker) is alive, on a working database connection.

    Beat and the worker's main process keep one connection for their whole life, outside any request: one
    that PostgreSQL closed (a restart, ``pg_terminate_backend``) would fail every later heartbeat, and
    /healthz would call a living beat dead. Such a connection is dropped (or checked) first, as Django does
    at the start of a request; never one inside a transaction (a task publishing in one: the outbox)."""
    from django.db import connections

    from portal.models import Heartbeat

    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
    Heartbeat.beat(name)


@before_task_publish.connect(sender=HEARTBEAT_TASK)
def _beat_published(**kwargs: object) -> None:
    # Runs in the process that sends the task: for the heartbeat that is beat,
    # so a stored "beat" time means beat is alive and can reach the broker.
    _alive("beat")


@beat_init.connect
def _beat_started(**kwargs: object) -> None:
    _alive("beat")


@worker_ready.connect
def _worker_started(**kwargs: object) -> None:
    _alive("worker")


@worker_process_init.connect
def _sending_heartbeat(**kwargs: object) -> None:
    # Each pool process (the one that claims rows) beats from a thread of its own: the evidence the
    # ticks use to take back what a dead worker held (portal.workers).
    from portal import workers

    workers.start_heartbeat()


@worker_init.connect
def _device_ca_opens(**kwargs: object) -> None:
    # The worker signs the devices CA's CRLs: a passphrase that cannot open the CA's key stops it at the start.
    # (SystemExit, not an exception: Celery logs and swallows exceptions of signal handlers.)
    from django.core.exceptions import ImproperlyConfigured

    from accounts.devices.ca import check_passphrase

    try:
        check_passphrase()
    except ImproperlyConfigured as exc:
        raise SystemExit(f"ImproperlyConfigured: {exc}") from None
