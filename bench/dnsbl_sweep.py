"""DNSBL sweep benchmark against the local test DNS server (20 ms delay on every answer, 30 zones).

    .venv/bin/python bench/dnsbl_sweep.py

1. one address against all 30 zones: wall time and its ratio to the 20 ms delay;
2. a /24 (256 x 30 = 7,680 lookups): lookups per second;
3. the same /24 with 3 of the 30 zones never answering: wall time.

The server runs in its own process, so it does not share the GIL with the checker.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()  # the checker reads the status words from the models; no database is used

from monitoring.dnsbl.checker import ZoneSpec, check, count_lookups, expand_targets  # noqa: E402
from monitoring.dnsbl.resolver import ResolverConfig  # noqa: E402
from tests.dnsserver import DNSServer, ip_zone  # noqa: E402

DELAY = 0.020
ZONES = 30
TIMEOUT, LIFETIME = 1.0, 1.0  # "one timeout" below
MAX_IN_FLIGHT = int(os.environ.get("DNSBL_MAX_IN_FLIGHT", "100"))


def zones(silent: int = 0) -> list:
    made = []
    for n in range(ZONES):
        # A few listings so that TXT lookups are part of the work, as in real life.
        listed = {f"198.51.100.{k}": ["127.0.0.2"] for k in range(n % 4)}
        made.append(ip_zone(f"bl{n}.bench.test", listed, mode="silent" if n >= ZONES - silent else "normal"))
    return made


def run(targets: list[str], silent: int = 0) -> tuple[float, int, int, float]:
    server = DNSServer(zones(silent), delay=DELAY).start_process()
    try:
        config = ResolverConfig([("127.0.0.1", server.port)], TIMEOUT, LIFETIME, MAX_IN_FLIGHT)
        specs = [ZoneSpec(zone=z.name, query_zone=z.name) for z in zones(silent)]
        check(["192.0.2.1"], specs[:1], config)  # warm up imports and the event loop
        started, cpu = time.perf_counter(), time.process_time()
        report = check(targets, specs, config)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        return elapsed, count_lookups(targets, specs), report.queries, cpu
    finally:
        server.stop()


def main() -> None:
    print(f"DNSBL sweep benchmark: {ZONES} zones, {DELAY * 1000:.0f} ms per answer, "
          f"{MAX_IN_FLIGHT} queries in flight, {os.cpu_count()} CPUs")  # fmt: skip

    one, lookups, queries, cpu = run(["198.51.100.1"])
    print(f"1. one address x {ZONES} zones: {one * 1000:.1f} ms wall, {one / DELAY:.2f}x the delay "
          f"({lookups} lookups, {queries} queries incl. health probes and TXT; checker CPU {cpu * 1000:.0f} ms); "
          f"target <= {1.5 * DELAY * 1000 + DELAY * 1000:.0f} ms (1.5x delay + one probe round)")  # fmt: skip

    block = expand_targets(["198.51.100.0/24"])
    wall, lookups, queries, cpu = run(block)
    rate = lookups / wall
    print(f"2. /24 x {ZONES} zones: {lookups} lookups in {wall:.2f} s = {rate:,.0f} lookups/s "
          f"({queries} queries, checker CPU {cpu:.2f} s); target >= 2,000/s")  # fmt: skip

    dead_wall, _, queries, _ = run(block, silent=3)
    limit = 1.2 * wall + LIFETIME
    print(f"3. /24 x {ZONES} zones, 3 never answering: {dead_wall:.2f} s ({queries} queries); "
          f"target <= 1.2 x {wall:.2f} + {LIFETIME:g} s timeout = {limit:.2f} s "
          f"-> {'met' if dead_wall <= limit else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
