from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from portal.models import Heartbeat
from tests.services import free_port

pytestmark = pytest.mark.django_db


def test_it_names_the_missing_worker_and_beat(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["failing"] == ["worker", "beat"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["worker"]["detail"] == "never seen"


def test_it_is_200_when_everything_is_alive(client):
    Heartbeat.beat("worker")
    Heartbeat.beat("beat")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "failing": [],
        "checks": response.json()["checks"],
    }
    assert all(check["ok"] for check in response.json()["checks"].values())


def test_it_notices_a_stale_heartbeat(client, settings):
    settings.HEARTBEAT_INTERVAL = 30
    Heartbeat.beat("worker")
    Heartbeat.beat("beat")
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        Heartbeat.beat("beat")
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]
    assert "s ago" in response.json()["checks"]["worker"]["detail"]


def test_it_reports_an_unreachable_broker(client, monkeypatch):
    from portal.celery import app

    Heartbeat.beat("worker")
    Heartbeat.beat("beat")
    # Celery prefers the environment's CELERY_BROKER_URL (CI sets one) over its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = previous
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]


def test_it_is_not_cached(client):
    response = client.get("/healthz")
    assert "no-cache" in response.headers["Cache-Control"]


def test_a_mail_path_service_that_stopped_reporting_fails_it(client, settings):
    settings.MAIL_SERVICE_HEARTBEAT_INTERVAL, settings.MAIL_SERVICE_MISSED_BEATS = 60, 3
    for name in ("worker", "beat", "mail_policy", "mail_auth"):
        Heartbeat.beat(name)
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["checks"]["mail_policy"]["ok"] is True
    with time_machine.travel(timezone.now() + timedelta(minutes=4)):
        for name in ("worker", "beat", "mail_auth"):
            Heartbeat.beat(name)
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["failing"] == ["mail_policy"]
    assert response.json()["checks"]["mail_policy"]["detail"].startswith("not reporting, last seen 24")


def test_a_mail_path_service_not_seen_for_a_day_is_no_longer_checked(client):
    Heartbeat.objects.create(name="mail_policy", last_seen=timezone.now() - timedelta(days=2))
    Heartbeat.beat("worker")
    Heartbeat.beat("beat")
    assert client.get("/healthz").status_code == 200


def test_it_reports_an_unreachable_cache(client, settings):
    Heartbeat.beat("worker")
    Heartbeat.beat("beat")
    settings.CACHES = {
        "default": {"BACKEND": "portal.cache.ResilientRedisCache", "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["cache"]
    assert response.json()["checks"]["cache"]["detail"].startswith("unreachable: ConnectionError")


def test_it_reports_a_redis_cache_that_answers(client, settings, redis_server):
    settings.CACHES = {"default": {"BACKEND": "portal.cache.ResilientRedisCache", "LOCATION": redis_server}}
    assert client.get("/healthz").json()["checks"]["cache"] == {"ok": True, "detail": "redis"}
