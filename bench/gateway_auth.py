"""Benchmark: authenticated GET /gateway/auth against gunicorn with 2 workers, without and with the
company-certificate rule.

Targets: at least 1,000 requests per second with p99 at most 20 ms on 2 cores (issue 7); with the
certificate rule on (the headers nginx sets with a valid company certificate), at least 0.9x the
requests per second of the rule off and p99 at most 20 ms (issue 16). It also prints the cost of issuing
100 device certificates and of signing a CRL with 10,000 revoked serials.

Sessions live in Redis (CACHE_URL, database 10 unless BENCH_REDIS_URL says otherwise)
and the database is PostgreSQL (a fresh ``portal_bench_gateway`` database on
BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres); when
either is missing the run falls back to SQLite / the file cache and says so.
The load generator is ``wrk`` (installed with apt-get when missing and run as root), else an asyncio
client below; both run on the same machine, so they take some of the CPU from gunicorn.

    .venv/bin/python bench/gateway_auth.py [--seconds 8] [--rounds 3] [--connections 8]
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
from accounts.devices import issuing
from accounts.models import Device
device, _ = Device.objects.get_or_create(user=user, name="Bench laptop")
certificate = issuing.issue(device, by=user).certificate
issuing.take_pkcs12(certificate)
print(certificate.serial_display, session.session_key)
"""
RULE = """
from accounts.models import DeviceSettings
DeviceSettings.objects.update_or_create(pk=1, defaults={{"certificate_employee": "{rule}"}})
"""
CA_COSTS = """
import datetime as dt
import time
from django.utils import timezone
from accounts.devices import ca, issuing
from accounts.models import Device, DeviceCertificate, User
user = User.objects.get(email="bench@example.com")
device = Device.objects.create(user=user, name="Bench issuing")
started = time.perf_counter()
for _ in range(100):
    issuing.issue(device, by=user)
issued = time.perf_counter() - started
authority = ca.active_ca()
now = timezone.now()
later = now + dt.timedelta(days=300)
DeviceCertificate.objects.bulk_create(
    DeviceCertificate(device=device, ca=authority, serial=format(10**30 + n, "x"), subject="bench", key_type="rsa2048",
                      fingerprint_sha256="0" * 64, certificate_pem="", not_before=now, not_after=later,
                      state="revoked", revoked_at=now, revoked_reason="owner")
    for n in range(10_000)
)
started = time.perf_counter()
pem = ca.sign_crl(authority)
signed = time.perf_counter() - started
started = time.perf_counter()
ca.write_files()
written = time.perf_counter() - started
revoked = DeviceCertificate.objects.filter(ca=authority, state="revoked").count()
print(f"RESULT issuing 100 certificates ({authority.key_type}): {issued:.2f} s, {issued * 10:.0f} ms each")
print(f"RESULT CRL with {revoked} revoked serials: signed in {signed * 1000:.0f} ms, {len(pem) / 1024:.0f} KiB PEM, "
      f"files written in {written * 1000:.0f} ms")
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


def python_load(port: int, cookie: str, seconds: float, connections: int,
                headers: dict[str, str] | None = None) -> tuple[int, list[float], list[str]]:  # fmt: skip
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    request = (
        f"GET /gateway/auth HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n{extra}Connection: close\r\n\r\n"
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


def wrk_load(port: int, cookie: str, seconds: float, connections: int, headers: dict[str, str]) -> str:
    extra = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    result = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-H", f"Cookie: {cookie}",
         "-H", "Host: localhost", *extra, f"http://127.0.0.1:{port}/gateway/auth"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout


def ensure_wrk() -> bool:
    """wrk from Debian's packages when it is missing (as root); False when it cannot be had."""
    if shutil.which("wrk"):
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    print("installing wrk (apt-get install wrk)", flush=True)
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"]
    if subprocess.run(command, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=False)
        subprocess.run(command, capture_output=True, check=False)
    return bool(shutil.which("wrk"))


def measure(label: str, port: int, cookie: str, args, headers: dict[str, str]) -> tuple[float, float]:
    """One load run; (req/s, p99 in ms)."""
    if shutil.which("wrk") and not args.python_client:
        output = wrk_load(port, cookie, args.seconds, args.connections, headers)
        print(output.rstrip())
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
        p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1)
        p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        refused = f", NOT 200: {non2xx.group(1)}" if non2xx else ""
        print(f"RESULT gateway_auth {label}: {rps:.0f} req/s, p50 {p50}, p99 {p99}{refused}")
        return rps, _milliseconds(p99)
    count, latencies, errors = python_load(port, cookie, args.seconds, args.connections, headers)
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    rps = count / args.seconds
    print(f"RESULT gateway_auth {label}: {rps:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, errors {len(errors)}")
    return rps, p99


def _milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_manage(env: dict[str, str], code: str) -> str:
    return subprocess.run(
        [PY, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8, help="seconds of each load run")
    parser.add_argument("--rounds", type=int, default=3, help="load runs with the rule off and on, in turns")
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
        "DEVICE_CA_KEY_PASSPHRASE": "bench-only-devices-ca-" + "q7W-" * 6,
    }
    print(f"{os.cpu_count()} CPU(s); " + "; ".join(notes), flush=True)
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    serial, cookie_value = subprocess.run(
        [PY, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.split()[-2:]
    cookie = f"portal_session={cookie_value}"
    # What nginx sets with a valid company certificate (gateway_nginx_config --client-certificates).
    certificate = {"X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-Serial": serial}
    ensure_wrk()

    def rule(value: str) -> None:
        run_manage(env, RULE.format(rule=value))

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
        client = "wrk" if shutil.which("wrk") and not args.python_client else "asyncio client"
        print(f"load: {client}, {args.connections} connections, {args.seconds:.0f} s each")
        # Off and on in turns, the median of each: a shared machine's load drifts during a run.
        runs: dict[str, list[tuple[float, float]]] = {"none": [], "webmail": []}
        for _round in range(args.rounds):
            for value, label in (("none", "rule off"), ("webmail", "certificate rule on")):
                rule(value)
                python_load(port, cookie, 0.5, 2, certificate)  # the facts are rebuilt once per worker
                runs[value].append(measure(label, port, cookie, args, certificate))
        rule("none")
        off = (statistics.median(r for r, _ in runs["none"]), statistics.median(p for _, p in runs["none"]))
        on = (statistics.median(r for r, _ in runs["webmail"]), statistics.median(p for _, p in runs["webmail"]))
        print(f"RESULT gateway_auth rule off (median of {args.rounds}): {off[0]:.0f} req/s, p99 {off[1]:.1f} ms")
        print(
            f"RESULT gateway_auth certificate rule on (median of {args.rounds}): {on[0]:.0f} req/s, p99 {on[1]:.1f} ms"
        )
        print(f"RESULT certificate rule: {on[0] / off[0]:.2f}x the req/s of the rule off, p99 {on[1]:.1f} ms")
        print("target: >= 1000 req/s, p99 <= 20 ms; with the rule >= 0.9x, p99 <= 20 ms")
        print(run_manage(env, CA_COSTS).rstrip())
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
