"""Benchmark: the sending guard's Postfix policy service against Debian's policyd-rate-limit, in one run.

The same replay against both: 100,000 policy requests as Postfix 3.7 writes them (every attribute,
about 25 lines each) for 1,000 people logged in with SMTP AUTH, a realistic mix of messages (most to
one recipient, some to a few, a few to many): one RCPT request per recipient and one END-OF-MESSAGE
per message, over 50 concurrent connections (as 50 smtpd processes), each connection sending its next
request when the previous one is answered. Printed for both: requests/s, p50 and p99 latency (from
sending a request to reading its answer), the answers, and the ratio of the throughputs.
Targets: at least 2x policyd-rate-limit's throughput, and p99 at most 2 ms for the portal's service.

Both run with equivalent per-person limits (recipients per hour and per day, and per minute) on their
default backends: the portal's service counts in memory (one mail server), policyd-rate-limit in its
SQLite database. The portal's service is ``manage.py mail_policy_server`` as its own process on a
scratch database (PostgreSQL on BENCH_POSTGRES_URL when reachable, else SQLite). policyd-rate-limit is
installed with apt-get when missing (needs root).

    .venv/bin/python bench/mail_policy.py [--requests 100000] [--people 1000] [--connections 50]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _scratch import ROOT, drop_scratch_postgres, scratch_django, scratch_postgres

BENCH_DB = "portal_bench_mailpolicy"
PRL = "/usr/bin/policyd-rate-limit"
LIMITS = {"recipients_per_hour": 200, "recipients_per_day": 1000, "messages_per_minute": 30}


WORK = scratch_django("mailpolicy", database_url=scratch_postgres(BENCH_DB), LOG_LEVEL="WARNING")

from accounts.models import User  # noqa: E402
from monitoring.sending.models import SendingSettings  # noqa: E402
from monitoring.sending.policy.protocol import encode  # noqa: E402
from tests.services import free_port, port_open  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def seed(people: int) -> list[str]:
    User.objects.bulk_create(
        [User(email=f"user{n:04d}@bench.example", first_name=f"User{n}") for n in range(people)], batch_size=500
    )
    SendingSettings.store(**LIMITS)
    return [f"user{n:04d}@bench.example" for n in range(people)]


def recipients_of_a_message(rng: random.Random) -> int:
    """Most mail goes to one person, some to a few, a little to many (a team, a customer list)."""
    roll = rng.random()
    if roll < 0.70:
        return 1
    if roll < 0.92:
        return rng.randint(2, 4)
    if roll < 0.99:
        return rng.randint(5, 15)
    return rng.randint(20, 60)


def workload(logins: list[str], total: int, connections: int, seed_value: int = 12) -> list[list[bytes]]:
    """``total`` requests as ``connections`` streams; each message's requests stay on one connection, in order."""
    rng = random.Random(seed_value)
    streams: list[list[bytes]] = [[] for _ in range(connections)]
    made = message = 0
    while made < total:
        login = rng.choice(logins)
        stream = streams[message % connections]
        message += 1
        instance = f"{message:x}.{rng.getrandbits(32):08x}.0"
        base = {
            "request": "smtpd_access_policy",
            "protocol_state": "RCPT",
            "protocol_name": "ESMTP",
            "client_address": f"198.51.100.{rng.randint(1, 254)}",
            "client_name": "client.bench.example",
            "client_port": str(rng.randint(1024, 65535)),
            "reverse_client_name": "client.bench.example",
            "server_address": "192.0.2.1",
            "server_port": "587",
            "helo_name": "laptop",
            "sender": login,
            "recipient": "",
            "recipient_count": "0",
            "queue_id": "",
            "instance": instance,
            "size": "0",
            "etrn_domain": "",
            "stress": "",
            "sasl_method": "PLAIN",
            "sasl_username": login,
            "sasl_sender": "",
            "ccert_subject": "",
            "ccert_issuer": "",
            "ccert_fingerprint": "",
            "encryption_protocol": "TLSv1.3",
            "encryption_cipher": "TLS_AES_256_GCM_SHA384",
            "encryption_keysize": "256",
            "policy_context": "",
            "compatibility_level": "3.6",
            "mail_version": "3.7.11",
        }
        count = recipients_of_a_message(rng)
        for _ in range(count):
            stream.append(encode({**base, "recipient": f"r{rng.randint(0, 99999)}@elsewhere.example"}))
        queue_id = f"{rng.getrandbits(40):010X}"
        size = str(rng.randint(2_000, 200_000))
        end = {**base, "protocol_state": "END-OF-MESSAGE", "recipient_count": str(count), "queue_id": queue_id,
               "size": size}  # fmt: skip
        stream.append(encode(end))
        made += count + 1
    return streams


class _Client(asyncio.Protocol):
    """One connection replaying its stream: the next request as soon as the previous one is answered."""

    def __init__(self, stream: list[bytes], latencies: list[float], answers: dict[str, int], done,
                 interval: float = 0.0) -> None:  # fmt: skip
        self.stream, self.latencies, self.answers, self.done = stream, latencies, answers, done
        self.index, self.buffer, self.started = 0, b"", 0.0
        self.interval = interval  # paced: one request every interval seconds (0: as soon as answered)
        self.next_at = 0.0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.send_next()

    def send_next(self) -> None:
        if self.index == len(self.stream):
            self.transport.close()
            self.done.set_result(None)
            return
        if self.interval:
            now = time.perf_counter()
            self.next_at = (
                max(self.next_at + self.interval, now) if self.next_at else now + random.random() * self.interval
            )
            if self.next_at > now:
                asyncio.get_running_loop().call_later(self.next_at - now, self._send)
                return
        self._send()

    def _send(self) -> None:
        self.started = time.perf_counter()
        self.transport.write(self.stream[self.index])
        self.index += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\n\n")
        if end >= 0:
            self.latencies.append(time.perf_counter() - self.started)
            verb = self.buffer[7:end].split(b" ", 1)[0].decode().upper()
            self.answers[verb] = self.answers.get(verb, 0) + 1
            self.buffer = self.buffer[end + 2 :]
            self.send_next()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"closed after {self.index} requests"))


async def replay(port: int, streams: list[list[bytes]], rate: float = 0.0) -> tuple[float, list[float], dict[str, int]]:
    """Every stream on its own connection, all at once; (seconds, latencies, answers by verb).

    ``rate`` 0: each connection sends its next request as soon as the previous is answered (the most the
    service can take); else the connections together offer ``rate`` requests a second, evenly spread."""
    interval = len(streams) / rate if rate else 0.0
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    answers: dict[str, int] = {}
    done = [loop.create_future() for _ in streams]
    started = time.perf_counter()
    for stream, future in zip(streams, done, strict=True):
        await loop.create_connection(
            lambda s=stream, f=future: _Client(s, latencies, answers, f, interval), "127.0.0.1", port
        )
    await asyncio.gather(*done)
    return time.perf_counter() - started, latencies, answers


def run(coroutine):
    """With uvloop when installed (as the service itself runs), else asyncio's own loop.

    The client's garbage collector is off meanwhile: its pauses would count as the service's latency."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    gc.collect()
    gc.disable()
    try:
        return runner(coroutine)
    finally:
        gc.enable()


def wait_port(port: int, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if port_open("127.0.0.1", port, timeout=0.2):
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not listen on {port}:\n{log.read_text()[-3000:]}")


def start_portal(port: int) -> subprocess.Popen:
    log = WORK / "policy.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "manage.py", "mail_policy_server", "--listen", f"127.0.0.1:{port}",
               "--counters", "memory"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    wait_port(port, process, log, "mail_policy_server")
    time.sleep(1.0)  # its first snapshot
    return process


def ensure_policyd_rate_limit() -> bool:
    if os.access(PRL, os.X_OK):
        return True
    if os.geteuid() != 0:
        print("policyd-rate-limit is not installed and installing it needs root: apt-get install -y policyd-rate-limit")
        return False
    print("installing Debian's policyd-rate-limit (apt-get install -y policyd-rate-limit) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "policyd-rate-limit"],
                            env=env, capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        result = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "policyd-rate-limit"],
                                env=env, capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        print(f"could not install policyd-rate-limit:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        return False
    return True


def start_policyd_rate_limit(port: int) -> tuple[subprocess.Popen, Path]:
    """policyd-rate-limit on its default backend (SQLite) with the same per-person limits, on a free port."""
    folder = Path(tempfile.mkdtemp(prefix="bench-prl-"))
    folder.chmod(0o755)
    config = folder / "policyd-rate-limit.yaml"
    config.write_text(
        "\n".join(
            [
                "debug: False",
                "user: root",  # it drops privileges to this user: the scratch folder is root's
                "group: root",
                f'pidfile: "{folder}/policyd-rate-limit.pid"',
                "backend: 0",  # SQLite, its default
                f'sqlite_config:\n    database: "{folder}/db.sqlite3"',
                f'SOCKET: ["127.0.0.1", {port}]',
                "limits:",
                f"    - [{LIMITS['messages_per_minute']}, 60]",
                f"    - [{LIMITS['recipients_per_hour']}, 3600]",
                f"    - [{LIMITS['recipients_per_day']}, 86400]",
                "limits_by_id: {}",
                "limit_by_sasl: True",
                "limit_by_sender: False",
                "limit_by_ip: False",
                "limited_networks: []",
                'success_action: "dunno"',
                'fail_action: "defer_if_permit Rate limit reach, retry later"',
                'db_error_action: "dunno"',
                "report: False",
                "delay_to_close: 300",
                "",
            ]
        )
    )
    log = folder / "policyd-rate-limit.log"
    process = subprocess.Popen([PRL, "-f", str(config)], stdout=log.open("ab"), stderr=subprocess.STDOUT)
    wait_port(port, process, log, "policyd-rate-limit")
    return process, folder


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def report(name: str, seconds: float, latencies: list[float], answers: dict[str, int]) -> float:
    rate = len(latencies) / seconds
    p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000
    shown = ", ".join(f"{verb} {count}" for verb, count in sorted(answers.items()))
    print(f"{name:<22} {len(latencies):>7} requests in {seconds:6.2f} s: {rate:8.0f} req/s, "
          f"p50 {p50:5.2f} ms, p99 {p99:5.2f} ms ({shown})", flush=True)  # fmt: skip
    return rate


def measure(name: str, port: int, pid: int, logins: list[str], args) -> tuple[float, float]:
    """Saturation (every connection as fast as answered) and a paced load; (req/s, paced p99 in ms)."""
    run(replay(port, workload(logins, 2_500, args.connections, 3)))  # warm up: connections, caches
    streams = workload(logins, args.requests, args.connections, 7)
    cpu = cpu_seconds(pid)
    seconds, latencies, answers = run(replay(port, streams))
    cpu = cpu_seconds(pid) - cpu
    rate = report(f"{name}, all out", seconds, latencies, answers)
    print(f"{'':34} its CPU time: {cpu / len(latencies) * 1e6:.0f} us per request", flush=True)
    paced = workload(logins, args.paced_requests, args.connections, 11)
    seconds, latencies, answers = run(replay(port, paced, rate=args.paced_rate))
    report(f"{name}, {args.paced_rate:.0f} req/s", seconds, latencies, answers)
    return rate, percentile(latencies, 0.99) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=1_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--paced-rate", type=float, default=1_000.0, help="offered req/s of the paced run")
    parser.add_argument("--paced-requests", type=int, default=20_000)
    parser.add_argument("--portal-only", action="store_true", help="measure the portal's service only")
    args = parser.parse_args()

    logins = seed(args.people)
    streams = workload(logins, args.requests, args.connections, 7)
    total = sum(len(stream) for stream in streams)
    rcpt = sum(b"protocol_state=RCPT\n" in request for stream in streams for request in stream)
    print(f"{total} requests ({rcpt} RCPT, {total - rcpt} END-OF-MESSAGE) for {args.people} people over "
          f"{args.connections} connections; limits {LIMITS}", flush=True)  # fmt: skip
    print(
        "all out: each connection sends its next request as soon as the previous one is answered (the most the "
        f"service takes; latency is mostly waiting behind the other {args.connections - 1} connections);"
    )
    print(f"paced: {args.paced_requests} requests offered at {args.paced_rate:.0f} req/s over the same connections "
          "(far above a small business's peak; latency is the service's own)", flush=True)  # fmt: skip

    port = free_port()
    portal = start_portal(port)
    try:
        ours, our_p99 = measure("portal policy service", port, portal.pid, logins, args)
    finally:
        stop(portal)
    if args.portal_only:
        return 0
    if not ensure_policyd_rate_limit():
        print("policyd-rate-limit: not measured")
        return 1
    port = free_port()
    process, folder = start_policyd_rate_limit(port)
    try:
        theirs, _ = measure("policyd-rate-limit", port, process.pid, logins, args)
    finally:
        stop(process)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"ratio: {ours / theirs:.1f}x policyd-rate-limit's throughput (target >= 2x); the portal's p99 at "
          f"{args.paced_rate:.0f} req/s: {our_p99:.2f} ms (target <= 2 ms)")  # fmt: skip
    drop_scratch_postgres(BENCH_DB)
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
