"""Server time of the 30-day load chart page: one day of history against one year.

Generates one year of per-minute samples (525,600) in memory, rolled up the way
the tiers keep them (raw 48 h, 5-minute 30 days, hourly and daily for the year),
writes the rows in bulk to a fresh SQLite database, and times
GET /monitoring/load/?range=30d through the whole middleware stack for a
one-day-old and a one-year-old installation.

Targets (issue 15): the page under 150 ms on SQLite; 1-year / 1-day at most 1.2 (it was 1.58 when each
request read the 720 hourly rows again). It also prints the first request after the tier grew (the complete
buckets are read again once an hour per web process).

    .venv/bin/python bench/load_dashboard.py
"""

from __future__ import annotations

import math
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from _scratch import scratch_django

scratch_django("load")

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402

from monitoring.serverload import rollups  # noqa: E402
from monitoring.serverload.models import ROLLUP_FIELDS, LoadRollup, LoadSample, LoadState, LoadThreshold  # noqa: E402

MINUTES_PER_YEAR = 525_600
REPEAT = 25


def minute_values(i: int, rng: random.Random) -> tuple[float, ...]:
    """One synthetic minute of a mail server: a daily rhythm, noise, and slowly filling disks."""
    day = math.sin(2 * math.pi * (i % 1440) / 1440)
    cpu = max(0.0, 25 + 15 * day + rng.random() * 10)
    net_in = max(0.0, 8e6 + 6e6 * day + rng.random() * 2e6)
    net_out = net_in / 4
    queue = 5 + int(rng.random() * 10)
    return (
        cpu,  # cpu
        cpu * 0.6,  # load
        55 + 5 * day,  # memory
        2.0,  # swap
        40 + 30 * i / MINUTES_PER_YEAR,  # disk
        2e6 + rng.random() * 1e6,  # disk_read
        1e6 + rng.random() * 1e6,  # disk_write
        net_in,
        net_out,
        net_in / 1e6,  # net_in_pct of a 100 Mbit/s line
        net_out / 2e5,  # net_out_pct of a 20 Mbit/s line
        20 + 10 * day,  # connections
        queue,
        queue // 3,  # queue_deferred
        0.2 + rng.random(),  # deferred_age (hours)
    )


def rollup(rows: list[tuple[float, ...]]) -> dict:
    values: dict = {"samples": len(rows)}
    for index, field in enumerate(ROLLUP_FIELDS):
        column = [row[index] for row in rows]
        values[f"{field}_avg"] = sum(column) / len(column)
        values[f"{field}_max"] = max(column)
    return values


def merge(buckets: list[dict]) -> dict:
    total = sum(b["samples"] for b in buckets)
    values: dict = {"samples": total}
    for field in ROLLUP_FIELDS:
        values[f"{field}_avg"] = sum(b[f"{field}_avg"] * b["samples"] for b in buckets) / total
        values[f"{field}_max"] = max(b[f"{field}_max"] for b in buckets)
    return values


def generate(now: datetime, minutes: int) -> dict[str, int]:
    """Store ``minutes`` of per-minute history ending at ``now``, as the tiers keep it."""
    LoadSample.objects.all().delete()
    LoadRollup.objects.all().delete()
    rng = random.Random(42)
    start = (now - timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    raw_since, five_since = now - timedelta(hours=48), now - timedelta(days=30)
    samples, fives, hours, days = [], [], [], []
    five_rows: list[tuple] = []
    hour_buckets: list[dict] = []
    day_buckets: list[dict] = []
    for i in range(minutes):
        at = start + timedelta(minutes=i)
        row = minute_values(i, rng)
        five_rows.append(row)
        if at >= raw_since:
            samples.append(LoadSample(taken_at=at, **dict(zip(ROLLUP_FIELDS, row, strict=True)), cores=2))
        if at.minute % 5 == 4:
            bucket = rollup(five_rows)
            five_rows = []
            five_start = at - timedelta(minutes=4)
            if five_start >= five_since:
                fives.append(LoadRollup(tier="5m", bucket_start=five_start, **bucket))
            hour_buckets.append(bucket)
            if at.minute == 59:
                hour = merge(hour_buckets)
                hour_buckets = []
                hours.append(LoadRollup(tier="1h", bucket_start=at.replace(minute=0), **hour))
                day_buckets.append(hour)
                if at.hour == 23:
                    days.append(LoadRollup(tier="1d", bucket_start=at.replace(hour=0, minute=0), **merge(day_buckets)))
                    day_buckets = []
    LoadSample.objects.bulk_create(samples, batch_size=2000)
    LoadRollup.objects.bulk_create(fives + hours + days, batch_size=2000)
    # What build_tier() remembers: each tier is built up to the bucket after its newest row.
    steps = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
    built = {
        tier: (rows[-1].bucket_start + steps[tier]).isoformat()
        for tier, rows in (("5m", fives), ("1h", hours), ("1d", days))
        if rows
    }
    LoadState.store(rolled_until=built)
    rollups._COMPLETE.clear()
    return {"raw": len(samples), "5m": len(fives), "1h": len(hours), "1d": len(days)}


def time_page(client: Client, url: str, cold: bool = False) -> tuple[float, float]:
    """Median server time: the WSGI application answering the request, as gunicorn would call it.

    The test client is only used to sign in: its own bookkeeping (copying every
    template context) is not server time. ``cold``: every request reads the complete buckets again, as the
    first request after the tier grew does (once an hour for the 30-day chart; otherwise they are kept).
    """
    handler = WSGIHandler()
    path, _, query = url.partition("?")
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    environ = RequestFactory()._base_environ(PATH_INFO=path, QUERY_STRING=query, HTTP_COOKIE=cookie)

    def serve() -> int:
        status = []
        body = handler(dict(environ), lambda s, headers, exc_info=None: status.append(s))
        b"".join(body)
        body.close()
        return int(status[0].split()[0])

    assert serve() == 200  # warm-up: templates compiled, connection open
    wall, cpu = [], []
    for _ in range(REPEAT):
        if cold:
            rollups._COMPLETE.clear()
        started, started_cpu = time.perf_counter(), time.process_time()
        status = serve()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert status == 200, status
    return statistics.median(wall), statistics.median(cpu)


def main() -> int:
    from accounts.models import User
    from accounts.roles import Role
    from tests.conftest import otp_sign_in

    LoadThreshold.ensure_defaults()
    user = User.objects.create_user("bench@example.com", password="bench password 42", role=Role.IT_STAFF)
    client = Client()
    otp_sign_in(client, user)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    url = "/monitoring/load/?range=30d"

    started = time.perf_counter()
    day_rows = generate(now, 1440)
    day_wall, day_cpu = time_page(client, url)
    day_cold_wall, day_cold_cpu = time_page(client, url, cold=True)
    print(f"one day of history: rows {day_rows}")
    print(f"  30-day chart page: {day_wall:.1f} ms wall, {day_cpu:.1f} ms CPU (median of {REPEAT})")
    print(f"    first request after the tier grew: {day_cold_wall:.1f} ms wall, {day_cold_cpu:.1f} ms CPU")

    year_rows = generate(now, MINUTES_PER_YEAR)
    seconds = time.perf_counter() - started
    print(f"one year of history ({MINUTES_PER_YEAR:,} per-minute samples rolled up, {seconds:.0f} s): rows {year_rows}")
    year_wall, year_cpu = time_page(client, url)
    year_cold_wall, year_cold_cpu = time_page(client, url, cold=True)
    print(f"  30-day chart page: {year_wall:.1f} ms wall, {year_cpu:.1f} ms CPU (median of {REPEAT})")
    print(f"    first request after the tier grew: {year_cold_wall:.1f} ms wall, {year_cold_cpu:.1f} ms CPU")
    for key in ("1h", "24h", "7d", "1y"):
        wall, cpu = time_page(client, f"/monitoring/load/?range={key}")
        print(f"  (for comparison) {key:>3} page: {wall:.1f} ms wall, {cpu:.1f} ms CPU")

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"machine load average: {load} (wall times suffer first when other work runs; CPU times are steadier)")
    print(f"ratio 1 year / 1 day: {year_wall / day_wall:.2f} wall, {year_cpu / day_cpu:.2f} CPU   (target <= 1.2)")
    print(
        f"  first request after the tier grew: {year_cold_wall / day_cold_wall:.2f} wall,"
        f" {year_cold_cpu / day_cold_cpu:.2f} CPU (once an hour per web process)"
    )
    print(f"30-day page with a year of history: {year_wall:.1f} ms wall   (target < 150 ms on SQLite)")
    ok = year_cpu / day_cpu <= 1.2 and year_wall < 150
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
