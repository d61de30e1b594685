"""Benchmark: the sending guard's Postfix policy service against Debian's policyd-rate-limit, in one run.

The same replay against both: policy requests as Postfix 3.7 writes them (every attribute, about 25
lines each) for 1,000 people logged in with SMTP AUTH, a realistic mix of messages (most to one
recipient, some to a few, a few to many): one RCPT request per recipient and one END-OF-MESSAGE per
message, over 50 connections (as 50 smtpd processes), each sending one request at a time as Postfix
does. Two loads:

- **closed loop** (100,000 requests): each connection sends its next request as soon as the previous
  one is answered: the most the service takes (requests/s, the throughput target). Its latencies are
  mostly waiting behind the other 49 connections (50 in flight at 25,000 req/s is 2 ms each on average),
  so they are printed but are not the latency target;
- **open loop** (20,000 requests at a fixed 1,000 req/s, with one change halfway through that makes the
  portal's service reload its snapshot, as every edit by IT staff and the 5-minute full reload do):
  every request has a scheduled send time, whatever the answers, and latency counts from that time (a
  connection still waiting for an answer sends its next request as soon as the answer comes, as Postfix
  would, and the wait counts): a stall delays every request scheduled during it instead of hiding them
  (no coordinated omission). p50, p99, p99.9 and the longest; the load generator's own lateness (a send
  after its time while the connection was free) is printed too: it is in the figures, and it is noise
  of the machine, not the service's.

Targets: at least 2x policyd-rate-limit's closed-loop throughput, and p99 at most 2 ms open loop.

Both services run with equivalent per-person limits (recipients per hour and per day, and per minute) on
their default backends: the portal's service counts in memory (one mail server), policyd-rate-limit in
its SQLite database, on disk as installed (``--prl-in-memory``: the file in /dev/shm, where its writes
never wait for the disk: its best case, and steadier on a shared machine, where other processes' disk
writes made its on-disk throughput vary sixfold between runs). The portal's service is
``manage.py mail_policy_server`` as its own process on a scratch database (PostgreSQL on
BENCH_POSTGRES_URL when reachable, else SQLite). policyd-rate-limit is installed with apt-get when
missing (needs root).

On a shared machine other processes take the CPU from the service and the load generator now and
then, and that shows in the highest percentiles. ``--priority`` runs the open loop with the service
under test and the load generator in the real-time class (``SCHED_FIFO``, root; plain nice values do
little here, as the kernel shares the CPU between sessions first), so that they are not kept waiting
behind other processes: what is left is the service's own stalls (garbage collection, its database
thread, the interpreter's lock) and the kernel's. The closed loop stays at normal priority, as it takes
whole CPUs. ``--pin`` puts the service on the last CPU and the load generator on the first.

    .venv/bin/python bench/mail_policy.py [--requests 100000] [--people 1000] [--connections 50]
        [--rate 1000] [--open-requests 20000] [--portal-only] [--priority] [--pin] [--prl-in-memory]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import os
import random
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from _scratch import ROOT, drop_scratch_postgres, scratch_django, scratch_postgres

BENCH_DB = "portal_bench_mailpolicy"
PRL = "/usr/bin/policyd-rate-limit"
LIMITS = {"recipients_per_hour": 200, "recipients_per_day": 1000, "messages_per_minute": 30}


WORK = scratch_django("mailpolicy", database_url=scratch_postgres(BENCH_DB), LOG_LEVEL="WARNING")

from accounts.models import User  # noqa: E402
from monitoring.sending.models import SendingSettings, SendingState  # noqa: E402
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
    """One connection of the closed loop: the next request as soon as the previous one is answered."""

    def __init__(self, stream: list[bytes], latencies: list[float], answers: dict[str, int], done) -> None:
        self.stream, self.latencies, self.answers, self.done = stream, latencies, answers, done
        self.index, self.buffer, self.started = 0, b"", 0.0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.send_next()

    def send_next(self) -> None:
        if self.index == len(self.stream):
            self.transport.close()
            self.done.set_result(None)
            return
        self.started = time.perf_counter()
        self.transport.write(self.stream[self.index])
        self.index += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\n\n")
        if end >= 0:
            self.latencies.append(time.perf_counter() - self.started)
            count_answer(self.answers, self.buffer[:end])
            self.buffer = self.buffer[end + 2 :]
            self.send_next()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"closed after {self.index} requests"))


def count_answer(answers: dict[str, int], answer: bytes) -> None:
    verb = answer[7:].split(b" ", 1)[0].decode().upper()  # after "action="
    answers[verb] = answers.get(verb, 0) + 1


async def replay(port: int, streams: list[list[bytes]]) -> tuple[float, list[float], dict[str, int]]:
    """Closed loop: every stream on its own connection, all at once; (seconds, latencies, answers by verb)."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    answers: dict[str, int] = {}
    done = [loop.create_future() for _ in streams]
    started = time.perf_counter()
    for stream, future in zip(streams, done, strict=True):
        await loop.create_connection(lambda s=stream, f=future: _Client(s, latencies, answers, f), "127.0.0.1", port)
    await asyncio.gather(*done)
    return time.perf_counter() - started, latencies, answers


@dataclass
class OpenLoop:
    seconds: float
    latencies: array  # seconds from each request's scheduled time to its answer
    lateness: array  # seconds the load generator sent after the time, on a connection that was free
    answers: dict[str, int] = field(default_factory=dict)


def open_loop(port: int, streams: list[list[bytes]], rate: float, halfway=None) -> OpenLoop:
    """Open loop: each request sent at its scheduled time, ``rate`` a second in all; ``halfway()`` called once
    in the middle (the portal's: a change that makes the service reload its snapshot).

    Each connection's requests are spread evenly over the same span (total / rate seconds) from a random
    phase, so the offered rate stays even to the end. One request at a time per connection, as Postfix:
    when an answer comes after the next request's time, that request goes at once and its latency
    still counts from its time. A plain ``select`` loop rather than an event loop: its timeouts are in
    microseconds (libuv's and asyncio's timers round to the millisecond, which would be the load
    generator's lateness, not the service's).
    """
    rng = random.Random(5)
    total = sum(len(stream) for stream in streams)
    span = total / rate
    sockets = []
    for _ in streams:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        sockets.append(sock)
    steps = [span / len(stream) for stream in streams]
    start = time.perf_counter() + 0.05
    # (scheduled time, connection, index of the request) of the next request of every free connection
    free = [(start + rng.random() * steps[n], n, 0) for n in range(len(streams))]
    heapq.heapify(free)
    waiting: dict[int, tuple[int, int, float]] = {}  # socket's fd -> (connection, request index, scheduled)
    buffers = [b""] * len(streams)
    answered_at = [0.0] * len(streams)
    result = OpenLoop(0.0, array("d"), array("d"))
    middle = start + span / 2
    while free or waiting:
        now = time.perf_counter()
        if halfway is not None and now >= middle:
            halfway()
            halfway = None
        while free and free[0][0] <= now:
            due, n, index = heapq.heappop(free)
            request = streams[n][index]
            if sockets[n].send(request) != len(request):
                raise SystemExit("the socket took part of a request: raise its send buffer")
            now = time.perf_counter()
            result.lateness.append(now - max(due, answered_at[n]))
            waiting[sockets[n].fileno()] = (n, index, due)
        timeout = max(0.0, free[0][0] - time.perf_counter()) if free else None
        readable, _, _ = select.select(list(waiting), [], [], timeout)
        for fd in readable:
            n, index, due = waiting[fd]
            data = sockets[n].recv(65536)
            if not data:
                raise SystemExit(f"the service closed connection {n} after {index} requests")
            buffers[n] += data
            end = buffers[n].find(b"\n\n")
            if end < 0:
                continue
            now = answered_at[n] = time.perf_counter()
            result.latencies.append(now - due)
            count_answer(result.answers, buffers[n][:end])
            buffers[n] = buffers[n][end + 2 :]
            del waiting[fd]
            if index + 1 < len(streams[n]):
                heapq.heappush(free, (due + steps[n], n, index + 1))
    result.seconds = time.perf_counter() - start
    for sock in sockets:
        sock.close()
    return result


def run(coroutine):
    """With uvloop when installed (as the service itself runs), else asyncio's own loop."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    return without_gc(runner, coroutine)


def without_gc(function, *args):
    """The load generator's garbage collector is off meanwhile: its pauses would count as the service's."""
    gc.collect()
    gc.disable()
    try:
        return function(*args)
    finally:
        gc.enable()


def pinned(args) -> dict:
    """Popen's arguments for the service under test: with ``--pin``, on the last CPU."""
    if not args.pin:
        return {}
    cpu = (os.cpu_count() or 1) - 1
    return {"preexec_fn": lambda: os.sched_setaffinity(0, {cpu})}


def realtime(pids: list[int], on: bool) -> None:
    """Every thread of these processes into the real-time class (``--priority``), or back to the normal one."""
    policy, parameters = (os.SCHED_FIFO, os.sched_param(10)) if on else (os.SCHED_OTHER, os.sched_param(0))
    for pid in pids:
        for thread in os.listdir(f"/proc/{pid}/task"):
            os.sched_setscheduler(int(thread), policy, parameters)


def wait_port(port: int, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if port_open("127.0.0.1", port, timeout=0.2):
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not listen on {port}:\n{log.read_text()[-3000:]}")


def start_portal(port: int, args) -> subprocess.Popen:
    log = WORK / "policy.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "manage.py", "mail_policy_server", "--listen", f"127.0.0.1:{port}",
               "--counters", "memory"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                               **pinned(args))  # fmt: skip
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


def start_policyd_rate_limit(port: int, args) -> tuple[subprocess.Popen, Path]:
    """policyd-rate-limit on its default backend (SQLite) with the same per-person limits, on a free port."""
    memory = "/dev/shm" if args.prl_in_memory else None  # noqa: S108 (mkdtemp: a new private folder)
    folder = Path(tempfile.mkdtemp(prefix="bench-prl-", dir=memory))
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
    process = subprocess.Popen([PRL, "-f", str(config)], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                               **pinned(args))  # fmt: skip
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


def answers_text(answers: dict[str, int]) -> str:
    return ", ".join(f"{verb} {count}" for verb, count in sorted(answers.items()))


def report(name: str, seconds: float, latencies: list[float], answers: dict[str, int]) -> float:
    rate = len(latencies) / seconds
    p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000
    print(f"{name:<36} {len(latencies):>7} requests in {seconds:6.2f} s: {rate:8.0f} req/s, "
          f"p50 {p50:5.2f} ms, p99 {p99:5.2f} ms ({answers_text(answers)})", flush=True)  # fmt: skip
    return rate


def report_open(name: str, result: OpenLoop, rate: float) -> tuple[float, float]:
    """The open loop's line: latencies from the scheduled times; (p99, p99.9) in ms."""
    latencies, lateness = sorted(result.latencies), sorted(result.lateness)
    p50, p99, p999 = (percentile(latencies, f) * 1000 for f in (0.50, 0.99, 0.999))
    late = sum(1 for latency in latencies if latency > 0.002)
    print(f"{name:<36} {len(latencies):>7} requests at {rate:.0f} req/s ({result.seconds:5.2f} s), from the "
          f"scheduled time: p50 {p50:5.2f} ms, p99 {p99:5.2f} ms, p99.9 {p999:5.2f} ms, longest "
          f"{latencies[-1] * 1000:5.1f} ms; {late} ({late / len(latencies):.2%}) later than 2 ms "
          f"({answers_text(result.answers)})", flush=True)  # fmt: skip
    print(f"{'':36} the load generator's own lateness (in the figures above): p99 "
          f"{percentile(lateness, 0.99) * 1000:.2f} ms, longest {lateness[-1] * 1000:.1f} ms", flush=True)  # fmt: skip
    return p99, p999


def measure(name: str, port: int, pid: int, logins: list[str], args, halfway=None) -> tuple[float, float]:
    """The closed loop, then the open loop; (closed-loop req/s, open-loop p99 in ms)."""
    run(replay(port, workload(logins, 2_500, args.connections, 3)))  # warm up: connections, caches
    streams = workload(logins, args.requests, args.connections, 7)
    cpu = cpu_seconds(pid)
    seconds, latencies, answers = run(replay(port, streams))
    cpu = cpu_seconds(pid) - cpu
    rate = report(f"{name}, closed loop", seconds, latencies, answers)
    print(f"{'':36} its CPU time: {cpu / len(latencies) * 1e6:.0f} us per request", flush=True)
    streams = workload(logins, args.open_requests, args.connections, 11)
    if args.priority:
        realtime([pid, os.getpid()], True)
    try:
        result = without_gc(open_loop, port, streams, args.rate, halfway)
    finally:
        if args.priority:
            realtime([pid, os.getpid()], False)
    p99, _ = report_open(f"{name}, open loop", result, args.rate)
    return rate, p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000, help="requests of the closed loop")
    parser.add_argument("--people", type=int, default=1_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1_000.0, help="req/s of the open loop")
    parser.add_argument("--open-requests", type=int, default=20_000, help="requests of the open loop")
    parser.add_argument("--portal-only", action="store_true", help="measure the portal's service only")
    parser.add_argument("--prl-in-memory", action="store_true", help="policyd-rate-limit's SQLite file in /dev/shm")
    parser.add_argument("--priority", action="store_true", help="open loop in the real-time class (root)")
    parser.add_argument("--pin", action="store_true", help="service on the last CPU, load generator on the first")
    args = parser.parse_args()
    if args.connections > 900:
        parser.error("--connections: at most 900 (the open loop's select() takes file descriptors below 1024)")

    logins = seed(args.people)
    streams = workload(logins, args.requests, args.connections, 7)
    total = sum(len(stream) for stream in streams)
    rcpt = sum(b"protocol_state=RCPT\n" in request for stream in streams for request in stream)
    print(f"{total} requests ({rcpt} RCPT, {total - rcpt} END-OF-MESSAGE) for {args.people} people over "
          f"{args.connections} connections; limits {LIMITS}", flush=True)  # fmt: skip
    print(
        "closed loop: each connection sends its next request as soon as the previous one is answered (the most the "
        f"service takes; latency is mostly waiting behind the other {args.connections - 1} connections);"
    )
    print(f"open loop: {args.open_requests} requests at {args.rate:.0f} req/s over the same connections, each at its "
          "scheduled time whatever the answers; latency from that time; the portal's service reloads its snapshot "
          "halfway through (a change by IT staff)", flush=True)  # fmt: skip
    shown = ["open loop in the real-time class (service and load generator)" if args.priority else "normal priority"]
    shown.append(f"policyd-rate-limit's SQLite file {'in /dev/shm' if args.prl_in_memory else 'on disk'}")
    if args.pin:
        shown.append(f"service on CPU {(os.cpu_count() or 1) - 1}, load generator on CPU 0")
        os.sched_setaffinity(0, {0})
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} before the run; {', '.join(shown)}")

    port = free_port()
    portal = start_portal(port, args)
    try:
        ours, our_p99 = measure("portal policy service", port, portal.pid, logins, args, SendingState.bump)
    finally:
        stop(portal)
    if not args.portal_only:
        if not ensure_policyd_rate_limit():
            print("policyd-rate-limit: not measured")
            return 1
        port = free_port()
        process, folder = start_policyd_rate_limit(port, args)
        try:
            theirs, _ = measure("policyd-rate-limit", port, process.pid, logins, args)
        finally:
            stop(process)
            shutil.rmtree(folder, ignore_errors=True)
        print(f"ratio: {ours / theirs:.1f}x policyd-rate-limit's closed-loop throughput (target >= 2x)")
    print(f"the portal's p99 open loop at {args.rate:.0f} req/s: {our_p99:.2f} ms (target <= 2 ms); load average "
          f"{os.getloadavg()[0]:.2f} after the run")  # fmt: skip
    drop_scratch_postgres(BENCH_DB)
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
