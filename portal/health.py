"""The checks behind ``GET /healthz``: database, cache, broker, worker and beat, and the mail-path services that
report.

A mail-path service (the app-password verifier ``mail_auth``, the Postfix policy service ``mail_policy``)
is checked once it has reported within the last day (``Heartbeat.mail_services``, the contract of
docs/load.md): an install without a mail server has none, and its health does not depend on them."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from portal.models import Heartbeat


@dataclass
class Check:
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return Check(False, f"unreachable: {exc.__class__.__name__}")
    return Check(True, connection.vendor)


def check_cache() -> Check:
    """Redis (``CACHE_URL``) answering. While it does not, pages still work (sessions come from the database,
    ``portal.cache``), but they are slower and throttles count per process: an operator should know."""
    from django.core.cache import caches

    from portal.cache import ResilientRedisCache

    cache = caches["default"]
    if not isinstance(cache, ResilientRedisCache):
        return Check(True, cache.__class__.__name__)
    try:
        cache.ping()
    except Exception as exc:
        return Check(False, f"unreachable: {exc.__class__.__name__}; pages read sessions from the database")
    return Check(True, "redis")


def check_broker() -> Check:
    from portal.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)
            transport = conn.transport_cls
    except Exception as exc:
        return Check(False, f"unreachable: {exc.__class__.__name__}")
    return Check(True, str(transport))


def _check_heartbeat(name: str) -> Check:
    limit = 3 * settings.HEARTBEAT_INTERVAL + 30
    try:
        age = Heartbeat.age(name)
    except Exception as exc:
        return Check(False, f"unknown: {exc.__class__.__name__}")
    if age is None:
        return Check(False, "never seen")
    seconds = int(age.total_seconds())
    if seconds > limit:
        return Check(False, f"last seen {seconds} s ago")
    return Check(True, f"last seen {max(seconds, 0)} s ago")


def check_mail_services() -> dict[str, Check]:
    try:
        services = Heartbeat.mail_services()
    except Exception as exc:
        return {"mail_services": Check(False, f"unknown: {exc.__class__.__name__}")}
    now = timezone.now()
    checks = {}
    for name, (last_seen, down) in sorted(services.items()):
        seconds = max(int((now - last_seen).total_seconds()), 0)
        checks[name] = Check(not down, f"{'not reporting, ' if down else ''}last seen {seconds} s ago")
    return checks


def run_checks() -> dict[str, Check]:
    return {
        "database": check_database(),
        "cache": check_cache(),
        "broker": check_broker(),
        "worker": _check_heartbeat("worker"),
        "beat": _check_heartbeat("beat"),
        **check_mail_services(),
    }
