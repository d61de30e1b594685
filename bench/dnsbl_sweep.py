"""DNSBL benchmark: this project's checker side by side with pydnsbl, on one local DNS server.

    .venv/bin/python bench/dnsbl_sweep.py

The test DNS server (tests/dnsserver.py) runs in its own process, answers every query after 20 ms and
serves 30 lists. pydnsbl (requirements-dev.txt, bench only) is asked the same questions on the same
server with the same timeout (1 s, one try).

1. one address x 30 lists, in process: wall time (target <= 50 ms);
2. a /24 x 30 lists (7,680 lookups) as whole processes: ``manage.py dnsbl_check 198.51.100.0/24
   --zones ... --json`` against a Python process running pydnsbl's ``bulk_check``; both times and the
   ratio (target: ours at least 1.0x pydnsbl's speed, 1.5x the stretch);
3. the same with 3 lists that never answer.

Correctness in the same run: the listings ``dnsbl_check`` reports are exactly those the server holds,
the silent lists' lookups are "unknown" (exit 3), never clean, and the health probes were asked.
pydnsbl asks no health probes and no TXT: it does less work for the same answer.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from _scratch import ROOT, scratch_django

# A migrated scratch database: dnsbl_check reads the catalogue (here: no zone of it, all named on the line).
scratch_django("dnsbl-sweep")

from monitoring.dnsbl.checker import ZoneSpec, check, count_lookups  # noqa: E402
from monitoring.dnsbl.resolver import ResolverConfig  # noqa: E402
from tests.dnsserver import DNSServer, ip_zone  # noqa: E402

DELAY = 0.020
ZONES = 30
TIMEOUT = 1.0  # seconds, one try, for both tools
RUNS = 3  # whole-process runs per tool and case; the median is printed
BLOCK = "198.51.100.0/24"
PYDNSBL = """
import asyncio, ipaddress, sys, warnings
warnings.simplefilter("ignore")
import aiodns
from pydnsbl import DNSBLIpChecker
from pydnsbl.providers import Provider
port, zones = int(sys.argv[1]), sys.argv[2].split(",")
checker = DNSBLIpChecker(providers=[Provider(z) for z in zones], timeout={timeout}, tries=1)
# pydnsbl takes no nameserver option: give its resolver the test server (c-ares takes the port here).
checker._resolver = aiodns.DNSResolver(
    nameservers=["127.0.0.1"], timeout={timeout}, tries=1, loop=checker._loop, udp_port=port, tcp_port=port
)
results = checker.bulk_check([str(ip) for ip in ipaddress.ip_network(sys.argv[3])])
print(sum(len(r.detected_by) for r in results), sum(len(r.failed_providers) for r in results))
"""


def zones(silent: int = 0) -> list:
    made = []
    for n in range(ZONES):
        # A few listings so that TXT lookups are part of the work, as in real life.
        listed = {f"198.51.100.{k}": ["127.0.0.2"] for k in range(n % 4)}
        made.append(ip_zone(f"bl{n}.bench.test", listed, mode="silent" if n >= ZONES - silent else "normal"))
    return made


def expected_listings(silent: int) -> set[tuple[str, str]]:
    return {
        (address, zone.name)
        for zone in zones(silent)
        if zone.mode == "normal"
        for address in (f"198.51.100.{k}" for k in range(ZONES))
        if zone.answer(".".join(reversed(address.split("."))))
    }


def in_process(targets: list[str], port: int) -> tuple[float, int, int, float]:
    config = ResolverConfig([("127.0.0.1", port)], TIMEOUT, TIMEOUT, 500)
    specs = [ZoneSpec(zone=z.name, query_zone=z.name) for z in zones()]
    check(["192.0.2.1"], specs[:1], config)  # warm up the event loop and the sockets' code paths
    started, cpu = time.perf_counter(), time.process_time()
    report = check(targets, specs, config)
    return time.perf_counter() - started, count_lookups(targets, specs), report.queries, time.process_time() - cpu


def timed(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return time.perf_counter() - started, result


def whole_processes(silent: int) -> dict:
    server = DNSServer(zones(silent), delay=DELAY, cache=True).start_process()
    names = ",".join(z.name for z in zones(silent))
    env = dict(os.environ)  # the scratch installation's settings, database and var/
    ours_env = {
        **env,
        "DNSBL_NAMESERVERS": f"127.0.0.1:{server.port}",
        "DNSBL_TIMEOUT": str(TIMEOUT),
        "DNSBL_LIFETIME": str(TIMEOUT),
    }
    ours_cmd = [sys.executable, "manage.py", "dnsbl_check", BLOCK, "--zones", names, "--json"]
    theirs_cmd = [sys.executable, "-c", PYDNSBL.format(timeout=TIMEOUT), str(server.port), names, BLOCK]
    ours, theirs = [], []
    try:
        for _ in range(RUNS):  # alternate, so that both see the same machine load
            elapsed, result = timed(ours_cmd, ours_env)
            ours.append((elapsed, result))
            elapsed, result = timed(theirs_cmd, env)
            theirs.append((elapsed, result))
    finally:
        server.stop()
    # Correctness of every run of ours, not only the timed median.
    for _, result in ours:
        data = json.loads(result.stdout)
        listed = {(r["address"], r["zone"]) for r in data["results"] if r["status"] == "listed"}
        silent_zones = {z.name for z in zones(silent) if z.mode == "silent"}
        silent_statuses = {r["status"] for r in data["results"] if r["zone"] in silent_zones}
        assert listed == expected_listings(silent), "dnsbl_check missed or invented a listing"
        assert not silent_zones or silent_statuses == {"unknown"}, f"silent lists read as {silent_statuses}"
        assert result.returncode == 1, f"exit {result.returncode} (listed on a healthy list: 1)"
    theirs_listed = {result.stdout.split()[0] for _, result in theirs}
    return {
        "ours": statistics.median(t for t, _ in ours),
        "theirs": statistics.median(t for t, _ in theirs),
        "theirs_listed": theirs_listed,
        "listed": len(expected_listings(silent)),
    }


def main() -> None:
    print(f"DNSBL benchmark: {ZONES} lists, {DELAY * 1000:.0f} ms per answer, timeout {TIMEOUT:g} s, "
          f"{os.cpu_count()} CPUs, median of {RUNS} whole-process runs per tool")  # fmt: skip
    server = DNSServer(zones(), delay=DELAY, cache=True).start_process()
    try:
        wall, lookups, queries, cpu = in_process(["198.51.100.1"], server.port)
    finally:
        server.stop()
    print(f"1. one address x {ZONES} lists (in process): {wall * 1000:.1f} ms wall, {wall / DELAY:.2f}x the delay "
          f"({lookups} lookups, {queries} queries incl. health probes and TXT; CPU {cpu * 1000:.0f} ms); "
          f"target <= 50 ms -> {'met' if wall <= 0.050 else 'NOT met'}")  # fmt: skip

    for number, silent in ((2, 0), (3, 3)):
        figures = whole_processes(silent)
        ratio = figures["theirs"] / figures["ours"]
        verdict = "met" if ratio >= 1.5 else ("met (1.0x), stretch 1.5x not met" if ratio >= 1.0 else "NOT met")
        what = f"/24 x {ZONES} lists" + (f", {silent} never answering" if silent else "")
        print(f"{number}. {what}, whole processes: dnsbl_check {figures['ours']:.2f} s, pydnsbl "
              f"{figures['theirs']:.2f} s -> {ratio:.2f}x pydnsbl's speed; target >= 1.0x -> {verdict}; "
              f"results correct ({figures['listed']} listings found, silent lists unknown, exit 1); "
              f"pydnsbl found {'/'.join(sorted(figures['theirs_listed']))} listings")  # fmt: skip


if __name__ == "__main__":
    main()
