"""A real Celery worker on Redis runs the heartbeat and /healthz notices."""

from __future__ import annotations

import time

import pytest

from portal.models import Heartbeat

pytestmark = pytest.mark.integration


def test_a_real_worker_records_its_heartbeat(celery_worker_factory, celery_app, client):
    celery_worker_factory(concurrency=1)
    Heartbeat.objects.all().delete()
    celery_app.send_task("portal.tasks.heartbeat")  # sending it is what beat does; it records "beat"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Heartbeat.objects.filter(name="worker").exists():
        time.sleep(0.2)
    assert Heartbeat.objects.filter(name="worker").exists()
    assert Heartbeat.objects.filter(name="beat").exists()
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()


@pytest.mark.django_db
def test_only_sending_the_heartbeat_counts_as_beat(celery_app):
    celery_app.send_task("portal.outbox_tick")
    assert not Heartbeat.objects.filter(name="beat").exists()
    celery_app.send_task("portal.tasks.heartbeat")
    assert Heartbeat.objects.filter(name="beat").exists()
