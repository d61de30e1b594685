"""Benchmark: IMAP logins through the real Dovecot asking the portal's verifier, against Dovecot's own limit.

With 1,000 people and 3,000 app passwords, Dovecot's auth cache off, 20 concurrent IMAP clients
(LOGIN, then LOGOUT; plain IMAP on 127.0.0.1 so TLS handshakes do not hide the passdb's cost):

- logins/s through the portal's passdb (Lua passdb -> verifier) and, side by side in the same run,
  through a Dovecot whose only passdb is a passwd-file holding the same people (the local limit);
  both printed with their ratio (target: at least 0.5x);
- the verifier's own time per check (target: p99 at most 5 ms): in-process (parse, decide, note) and
  as a round trip on its socket one check at a time; and its capacity with 20 connections that never
  pause (where the round trip is mostly queueing behind the other 19);
- the cost of creating and of revoking an app password, and of the snapshot reload that follows.

Needs root, Dovecot with its Lua passdb and lua-socket (as the tests); PostgreSQL when reachable
(a fresh ``portal_bench_mailauth`` database on BENCH_POSTGRES_URL, default
postgres://postgres@127.0.0.1:5432/postgres), else SQLite.

    .venv/bin/python bench/mail_auth.py [--seconds 10] [--rounds 2] [--clients 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import time

from _scratch import ROOT, drop_scratch_postgres, scratch_django, scratch_postgres

BENCH_DB = "portal_bench_mailauth"
PEOPLE, PER_PERSON = 1000, 3


WORK = scratch_django("mailauth", database_url=scratch_postgres(BENCH_DB), LOG_LEVEL="WARNING")

from accounts import app_passwords  # noqa: E402
from accounts.mailauth import passwords, protocol  # noqa: E402
from accounts.mailauth import snapshot as snapshots  # noqa: E402
from accounts.mailauth.server import Verifier  # noqa: E402
from accounts.models import AppPassword, MailAuthState, User  # noqa: E402
from tests.mailserver import MailStack, dovecot_missing_reason  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def seed() -> dict[str, list[str]]:
    """1,000 people with three app passwords each (bulk, like an import); their secrets for the load."""
    users = User.objects.bulk_create(
        [User(email=f"user{n:04d}@bench.example", first_name=f"User{n}") for n in range(PEOPLE)], batch_size=500
    )
    secrets_by_login: dict[str, list[str]] = {}
    rows = []
    for user in users:
        for device in range(PER_PERSON):
            secret = passwords.generate()
            salt = passwords.new_salt()
            digest = passwords.digest(salt, passwords.normalise(secret))
            rows.append(AppPassword(user=user, name=f"Device {device}", salt=salt.hex(), digest=digest.hex()))
            secrets_by_login.setdefault(user.email, []).append(secret)
    AppPassword.objects.bulk_create(rows, batch_size=1000)
    MailAuthState.bump()
    return secrets_by_login


def cost_of_changes() -> None:
    people = list(User.objects.order_by("?")[:100])
    created, revoked = [], []
    new_rows = []
    for person in people:
        started = time.perf_counter()
        new_rows.append(app_passwords.create(person, name="Bench", can_read=True, can_send=True).password)
        created.append((time.perf_counter() - started) * 1000)
    for row in new_rows:
        started = time.perf_counter()
        app_passwords.revoke(row, by=None, reason=AppPassword.RevokeReason.IT_STAFF)
        revoked.append((time.perf_counter() - started) * 1000)
    loads = []
    for _ in range(5):
        started = time.perf_counter()
        snapshots.load()
        loads.append((time.perf_counter() - started) * 1000)
    for what, times in (("create", created), ("revoke", revoked)):
        median, p99 = statistics.median(times), percentile(times, 0.99)
        print(f"RESULT {what} an app password (audited, verifier told): median {median:.1f} ms, p99 {p99:.1f} ms")
    print(f"RESULT verifier snapshot reload after a change ({PEOPLE} people, {PEOPLE * PER_PERSON} passwords): "
          f"median {statistics.median(loads):.0f} ms")  # fmt: skip


# --- IMAP load -----------------------------------------------------------------------------------------


async def imap_login(port: int, user: str, password: str) -> bool:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reader.readline()
        writer.write(f'a LOGIN "{user}" "{password}"\r\n'.encode())
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line or line.startswith(b"a "):
                break
        ok = line.startswith(b"a OK")
        writer.write(b"b LOGOUT\r\n")
        await writer.drain()
        await reader.read()
        return ok
    finally:
        writer.close()


async def imap_load(port: int, logins: list[tuple[str, str]], seconds: float, clients: int) -> tuple[int, int]:
    done = failed = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done, failed
        while time.perf_counter() < deadline:
            user, password = random.choice(logins)
            try:
                ok = await imap_login(port, user, password)
            except OSError:
                ok = False
            done += ok
            failed += not ok

    await asyncio.gather(*(client() for _ in range(clients)))
    return done, failed


async def warm_up(port: int, logins: list[tuple[str, str]], clients: int) -> None:
    """Everyone logs in once (Dovecot creates each mailbox on the first login)."""
    queue = list(logins)

    async def client() -> None:
        while queue:
            user, password = queue.pop()
            await imap_login(port, user, password)

    await asyncio.gather(*(client() for _ in range(clients)))


# --- the verifier alone ----------------------------------------------------------------------------------


async def verifier_round_trips(socket_path: str, logins: list[tuple[str, str]], seconds: float, clients: int):
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(number: int) -> None:
        reader, writer = await asyncio.open_unix_connection(socket_path)
        request_id = 0
        while time.perf_counter() < deadline:
            user, password = random.choice(logins)
            request_id += 1
            line = b"\t".join([b"VERIFY", str(request_id).encode(), b"imap", protocol.encode(user),
                               b"127.0.0.1", protocol.encode(password)]) + b"\n"  # fmt: skip
            started = time.perf_counter()
            writer.write(line)
            answer = await reader.readline()
            latencies.append((time.perf_counter() - started) * 1000)
            assert answer.startswith(b"OK"), answer
        writer.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies


def decision_times(logins: list[tuple[str, str]], count: int = 20_000) -> list[float]:
    verifier = Verifier(socket_path=str(WORK / "unused.sock"))
    verifier.snapshot = snapshots.load()
    times = []
    for n in range(count):
        user, password = logins[n % len(logins)]
        line = b"VERIFY\t1\timap\t" + protocol.encode(user) + b"\t127.0.0.1\t" + protocol.encode(password) + b"\n"
        started = time.perf_counter()
        verifier.respond(line)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="portal/passwd-file measurements, alternated")
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    reason = dovecot_missing_reason()
    if reason:
        print(f"SKIPPED: {reason}")
        return 0
    print(f"{os.cpu_count()} CPU(s); database: {os.environ['DATABASE_URL'].split(':', 1)[0]}", flush=True)
    started = time.perf_counter()
    secrets_by_login = seed()
    print(f"seeded {PEOPLE} people and {PEOPLE * PER_PERSON} app passwords in {time.perf_counter() - started:.1f} s")
    cost_of_changes()

    logins = [(user, secret) for user, secrets in secrets_by_login.items() for secret in secrets]
    mailbox_password = {user: f"mailbox password of {user}" for user in secrets_by_login}
    baseline_logins = list(mailbox_password.items())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    portal = MailStack(env, postfix=False, tls=False, auth_cache=False)
    baseline = MailStack(env, postfix=False, tls=False, auth_cache=False, baseline=True)
    try:
        portal.start()
        baseline.start()
        baseline.set_mailbox_passwords(mailbox_password)
        portal.sync()
        asyncio.run(warm_up(portal.imap_port, [(u, s[0]) for u, s in secrets_by_login.items()], args.clients))
        asyncio.run(warm_up(baseline.imap_port, baseline_logins, args.clients))

        rates: dict[str, list[float]] = {"portal": [], "passwd-file": []}
        for round_number in range(args.rounds):
            for name, stack, pairs in (("portal", portal, logins), ("passwd-file", baseline, baseline_logins)):
                done, failed = asyncio.run(imap_load(stack.imap_port, pairs, args.seconds, args.clients))
                rates[name].append(done / args.seconds)
                note = f", {failed} FAILED" if failed else ""
                print(f"round {round_number + 1}, {name}: {done / args.seconds:.0f} logins/s{note}", flush=True)
        portal_rate, baseline_rate = (statistics.mean(rates[name]) for name in ("portal", "passwd-file"))
        print(
            f"RESULT IMAP logins/s with {args.clients} clients, auth cache off: portal passdb {portal_rate:.0f}, "
            f"passwd-file passdb {baseline_rate:.0f}, ratio {portal_rate / baseline_rate:.2f}x (target >= 0.5x)"
        )

        socket_path = str(portal.verifier_socket)
        alone = asyncio.run(verifier_round_trips(socket_path, logins, args.seconds, 1))
        print(
            f"RESULT verifier round trip on its socket, one check at a time: p50 {statistics.median(alone):.2f} ms, "
            f"p99 {percentile(alone, 0.99):.2f} ms (target p99 <= 5 ms)"
        )
        busy = asyncio.run(verifier_round_trips(socket_path, logins, args.seconds, args.clients))
        print(
            f"RESULT verifier saturated by {args.clients} connections (no pause between checks): "
            f"{len(busy) / args.seconds:.0f} checks/s, p50 {statistics.median(busy):.2f} ms, "
            f"p99 {percentile(busy, 0.99):.2f} ms (mostly queueing: {args.clients} checks wait for each other)"
        )
    finally:
        portal.stop()
        baseline.stop()
    own = decision_times(logins)
    print(f"RESULT verifier's own time per check (parse + decide + note, in-process): "
          f"p50 {statistics.median(own) * 1000:.0f} µs, p99 {percentile(own, .99) * 1000:.0f} µs")  # fmt: skip
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        drop_scratch_postgres(BENCH_DB)
        shutil.rmtree(WORK, ignore_errors=True)
