"""Benchmark: authenticated GET /gateway/auth on gunicorn (2 workers) while Redis, the session cache, fails.

First the cost of one ``get`` on Django's RedisCache and on the portal's ResilientRedisCache (short socket
timeouts, the breaker and the generation: one clock read, a fence read a second). Then phases, each
measured with the asyncio client of ``gateway_auth.py`` (req/s, p50, p99, answers not 200): Redis up;
Redis frozen (SIGSTOP: connections hang until the socket timeout, then the breaker); Redis stopped
(connections refused: sessions and facts from the database); Redis started again (empty), with the seconds
until the portal moved the cache's generation on (the writes it dropped) and used Redis again.
Target (issue 17): no answer but 200 in any phase; pages keep working at database speed while Redis is away.

The Redis is the benchmark's own (``redis-server`` on a free port); the database is a scratch PostgreSQL
database on BENCH_POSTGRES_URL (SQLite when unreachable).

    .venv/bin/python bench/cache_outage.py [--seconds 5] [--connections 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _scratch import _admin_url, scratch_postgres
from gateway_auth import PY, ROOT, free_port, python_load

SESSION = """
import time
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore
from django_otp.plugins.otp_totp.models import TOTPDevice
from accounts.models import User
user, _ = User.objects.get_or_create(email="bench@example.com", defaults={"first_name": "Bench"})
device, _ = TOTPDevice.objects.get_or_create(user=user, name="bench", defaults={"confirmed": True})
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session["otp_device_id"] = device.persistent_id
session["otp_verified_at"] = int(time.time())
session.create()
print(session.session_key)
"""
DATABASE = "portal_bench_cache"


def start_redis(folder: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_for_port(port)
    return process


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def measure(label: str, port: int, cookie: str, args) -> None:
    count, latencies, errors = python_load(port, cookie, args.seconds, args.connections)
    latencies.sort()
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000 if latencies else float("nan")
    print(
        f"RESULT cache_outage {label}: {count / args.seconds:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"not 200: {len(errors)}",
        flush=True,
    )


OPERATION_COST = """
import time
from django.core.cache.backends.redis import RedisCache
from portal.cache import ResilientRedisCache
url = "{url}"
caches = {{"django RedisCache": RedisCache(url, {{}}), "ResilientRedisCache": ResilientRedisCache(url, {{}})}}
for name, cache in caches.items():
    cache.set("bench", {{"a": 1}}, 60)
    best = None
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(5000):
            cache.get("bench")
        elapsed = (time.perf_counter() - started) / 5000
        best = elapsed if best is None else min(best, elapsed)
    print(f"RESULT cache_outage get on {{name}}: {{best * 1e6:.0f}} us per operation (best of 3 x 5,000)")
"""


def generation(redis_port: int) -> int | None:
    import redis

    value = redis.Redis(port=redis_port, socket_timeout=1).get(":portal-cache-generation")
    return None if value is None else int(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="seconds of each phase's load")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-cache-outage-"))
    redis_port = free_port()
    redis_process = start_redis(work, redis_port)
    database_url = scratch_postgres(DATABASE)
    env = {
        **os.environ,
        "PORTAL_VAR_DIR": str(work),
        "DATABASE_URL": database_url or f"sqlite:///{work / 'bench.sqlite3'}",
        "CACHE_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/1",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "x9Q-" * 12,
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "ERROR",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PYTHONWARNINGS": "ignore::UserWarning",
        "DEVICE_CA_KEY_PASSPHRASE": "bench-only-devices-ca-" + "q7W-" * 6,
    }
    print(f"{os.cpu_count()} CPU(s); database: {'PostgreSQL' if database_url else 'SQLite'}", flush=True)
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    session_key = subprocess.run(
        [PY, "manage.py", "shell", "-c", SESSION], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    cookie = f"portal_session={session_key}"
    cost = OPERATION_COST.format(url=f"redis://127.0.0.1:{redis_port}/2")
    print(subprocess.run([PY, "manage.py", "shell", "-c", cost], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.rstrip(), flush=True)  # fmt: skip
    port = free_port()
    gunicorn = subprocess.Popen(
        [PY, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--log-level", "error", "--access-logfile", "/dev/null"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        wait_for_port(port, 30)
        python_load(port, cookie, 1.0, 4)  # warm-up: both workers load the app and cache the facts
        print(f"load: asyncio client, {args.connections} connections, {args.seconds:.0f} s per phase", flush=True)
        measure("Redis up", port, cookie, args)

        redis_process.send_signal(signal.SIGSTOP)
        measure("Redis frozen (SIGSTOP)", port, cookie, args)
        redis_process.send_signal(signal.SIGCONT)
        time.sleep(6)  # past the breaker

        before = generation(redis_port)
        redis_process.terminate()
        redis_process.wait(10)
        measure("Redis stopped", port, cookie, args)

        redis_process = start_redis(work, redis_port)
        started = time.monotonic()
        python_load(port, cookie, 0.2, 1)  # the writes the workers dropped during the outage
        moved = None
        while time.monotonic() - started < 30:
            current = generation(redis_port)
            if current is not None and current != before:
                moved = time.monotonic() - started
                break
            time.sleep(0.05)
        print(
            "RESULT cache_outage Redis back (empty): generation moved on after "
            + (f"{moved:.2f} s" if moved is not None else "more than 30 s"),
            flush=True,
        )
        time.sleep(5)  # every worker past its breaker
        settled = generation(redis_port)
        measure("Redis back", port, cookie, args)
        print(f"RESULT cache_outage generation moves while Redis stayed up: {generation(redis_port) - settled}")
        print("target: not 200 = 0 in every phase")
    finally:
        gunicorn.terminate()
        gunicorn.wait(10)
        if redis_process.poll() is None:
            redis_process.send_signal(signal.SIGCONT)
            redis_process.terminate()
            redis_process.wait(10)
        if database_url:
            import psycopg

            with psycopg.connect(_admin_url(), autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
