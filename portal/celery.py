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


@before_task_publish.connect(sender=HEARTBEAT_TASK)
def _beat_published(**kwargs: object) -> None:
    # Runs in the process that sends the task: for the heartbeat that is beat,
    # so a stored "beat" time means beat is alive and can reach the broker.
    from portal.models import Heartbeat

    Heartbeat.beat("beat")


@beat_init.connect
def _beat_started(**kwargs: object) -> None:
    from portal.models import Heartbeat

    Heartbeat.beat("beat")


@worker_ready.connect
def _worker_started(**kwargs: object) -> None:
    from portal.models import Heartbeat

    Heartbeat.beat("worker")


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
