"""Benchmark: authenticated GET /gateway/auth against gunicorn with 2 workers.

Target (issue 7): at least 1,000 requests per second with p99 at most 20 ms on 2 cores.

Sessions live in Redis (CACHE_URL, database 10 unless BENCH_REDIS_URL says otherwise)
and the database is PostgreSQL (a fresh ``portal_bench_gateway`` database on
BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres); when
either is missing the run falls back to SQLite / the file cache and says so.
The load generator is ``wrk`` when installed, else an asyncio client below; both
run on the same machine, so they take some of the CPU from gunicorn.

    .venv/bin/python bench/gateway_auth.py [--seconds 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SETUP = """
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def services(var_dir: Path) -> tuple[dict[str, str], list[str]]:
    """Environment for the portal: PostgreSQL and Redis when reachable, else SQLite and files."""
    env: dict[str, str] = {}
    notes: list[str] = []
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
        env["CACHE_URL"] = redis_url
        notes.append(f"sessions: Redis ({redis_url})")
    except Exception as exc:
        env["CACHE_URL"] = f"file://{var_dir / 'cache'}"
        notes.append(f"sessions: file cache (Redis unavailable: {exc.__class__.__name__})")
    admin_url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    try:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True, connect_timeout=2) as conn:
            conn.execute("DROP DATABASE IF EXISTS portal_bench_gateway")
            conn.execute("CREATE DATABASE portal_bench_gateway")
        parts = urlsplit(admin_url)
        env["DATABASE_URL"] = urlunsplit((parts.scheme, parts.netloc, "/portal_bench_gateway", "", ""))
        notes.append("database: PostgreSQL")
    except Exception as exc:
        env["DATABASE_URL"] = f"sqlite:///{var_dir / 'bench.sqlite3'}"
        notes.append(f"database: SQLite (PostgreSQL unavailable: {exc.__class__.__name__})")
    return env, notes


async def _worker(host: str, port: int, request: bytes, deadline: float, latencies: list[float], errors: list[str]):
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            data = await reader.read()  # gunicorn's sync workers close the connection after each answer
            writer.close()
        except OSError as exc:
            errors.append(exc.__class__.__name__)
            continue
        if not data.startswith(b"HTTP/1.1 200"):
            errors.append(data[:40].decode(errors="replace"))
            continue
        latencies.append(time.perf_counter() - started)


def python_load(port: int, cookie: str, seconds: float, connections: int) -> tuple[int, list[float], list[str]]:
    request = (
        f"GET /gateway/auth HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    errors: list[str] = []

    async def run() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(_worker("127.0.0.1", port, request, deadline, latencies, errors) for _ in range(connections))
        )

    asyncio.run(run())
    return len(latencies), latencies, errors


def wrk_load(port: int, cookie: str, seconds: float, connections: int) -> str:
    result = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-H", f"Cookie: {cookie}",
         "-H", "Host: localhost", f"http://127.0.0.1:{port}/gateway/auth"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--python-client", action="store_true", help="use the asyncio client even if wrk exists")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    env_extra, notes = services(var_dir)
    env = {
        **os.environ,
        **env_extra,
        "PORTAL_VAR_DIR": str(var_dir),
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "x9Q-" * 12,
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PYTHONWARNINGS": "ignore::UserWarning",  # whitenoise: no collectstatic for a benchmark
    }
    print(f"{os.cpu_count()} CPU(s); " + "; ".join(notes), flush=True)
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    cookie_value = subprocess.run(
        [PY, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    cookie = f"portal_session={cookie_value}"

    port = free_port()
    gunicorn = subprocess.Popen(
        [PY, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--log-level", "warning", "--access-logfile", "-" if os.environ.get("BENCH_ACCESS_LOG") else "/dev/null"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        # Warm-up: each worker loads the app and caches the user's facts.
        count, _, errors = python_load(port, cookie, 1.0, 4)
        if errors or not count:
            print(f"warm-up failed: {count} answered 200, errors {sorted(set(errors))[:5]}")
            return 1
        if shutil.which("wrk") and not args.python_client:
            print(f"load: wrk, {args.connections} connections, {args.seconds:.0f} s")
            output = wrk_load(port, cookie, args.seconds, args.connections)
            print(output.rstrip())
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
            p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1)
            p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1)
            non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
            refused = f", NOT 200: {non2xx.group(1)}" if non2xx else ""
            print(f"RESULT gateway_auth: {rps:.0f} req/s, p50 {p50}, p99 {p99}{refused}")
        else:
            print(f"load: asyncio client, {args.connections} connections, {args.seconds:.0f} s")
            count, latencies, errors = python_load(port, cookie, args.seconds, args.connections)
            latencies.sort()
            p50 = statistics.median(latencies) * 1000
            p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
            print(
                f"RESULT gateway_auth: {count / args.seconds:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                f"errors {len(errors)}"
            )
        print("target: >= 1000 req/s, p99 <= 20 ms")
    finally:
        gunicorn.terminate()
        gunicorn.wait(10)
        if "portal_bench_gateway" in env_extra.get("DATABASE_URL", ""):
            import psycopg

            admin_url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS portal_bench_gateway WITH (FORCE)")
        shutil.rmtree(var_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
