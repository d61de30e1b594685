"""The server load part of the demo organisation (``manage.py demo``)."""

from __future__ import annotations

import math
import os
import random
import time
from datetime import datetime

# The made-up history turns into this machine's own readings over its last hours, so the charts run on
# into the live samples instead of falling off a cliff at "now".
JOIN_HOURS = 3.0


def live_reading() -> dict[str, float]:
    """This machine's load now, as the first live samples will show it (half a second of CPU and network)."""
    import psutil

    cores = psutil.cpu_count() or 1
    net_before = psutil.net_io_counters()
    psutil.cpu_percent(interval=None)  # the first call only starts the measurement
    time.sleep(0.5)
    cpu = psutil.cpu_percent(interval=None)
    net_after = psutil.net_io_counters()
    net_in = max(net_after.bytes_recv - net_before.bytes_recv, 0) * 8 / 0.5
    net_out = max(net_after.bytes_sent - net_before.bytes_sent, 0) * 8 / 0.5
    try:
        disk = psutil.disk_usage("/").percent
    except OSError:
        disk = 50.0
    return {
        "cpu": cpu,
        "load": 100 * os.getloadavg()[0] / cores,
        "memory": psutil.virtual_memory().percent,
        "swap": psutil.swap_memory().percent,
        "disk": disk,
        "net_in": net_in,
        "net_out": net_out,
        "connections": 0.0,
        "queue": 0.0,
        "queue_deferred": 0.0,
        "deferred_age": 0.0,
    }


def history_values(at: datetime, end: datetime, live: dict[str, float], line_mbps: tuple[float, float]) -> dict:
    """One moment of the made-up history: a daily rhythm, blended into ``live`` over the last JOIN_HOURS."""
    day = math.sin(2 * math.pi * (at.hour * 60 + at.minute) / 1440 - math.pi / 2)
    made_up = {
        "cpu": 18 + 12 * day, "load": 12 + 8 * day, "memory": 52 + 3 * day, "swap": 1.0, "disk": live["disk"] - 1,
        "disk_read": 2e6, "disk_write": 1e6, "net_in": (30 + 20 * day) * 1e6, "net_out": (4 + 2 * day) * 1e6,
        "connections": 25 + 15 * day, "queue": 6 + 4 * day, "queue_deferred": 2.0, "deferred_age": 0.5,
    }  # fmt: skip
    weight = math.exp(-(end - at).total_seconds() / 3600 / JOIN_HOURS * 3)  # 1 at the end, ~0.05 three hours before
    values = {name: (1 - weight) * value + weight * live.get(name, value) for name, value in made_up.items()}
    values["net_in_pct"] = 100 * values["net_in"] / (line_mbps[0] * 1e6)
    values["net_out_pct"] = 100 * values["net_out"] / (line_mbps[1] * 1e6)
    return values


def load() -> list[str]:
    """Line capacity, alert marks and a week of made-up history that ends now and joins the live samples
    (rollups only: real samples start at once)."""
    from django.utils import timezone

    from monitoring.serverload.models import ROLLUP_FIELDS, LoadRollup, LoadSettings, LoadState, LoadThreshold
    from monitoring.serverload.rollups import STEP, bucket_floor

    settings = LoadSettings.load()
    if settings.line_download_mbps is None:
        settings.line_download_mbps, settings.line_upload_mbps = 100.0, 20.0
        settings.save(update_fields=["line_download_mbps", "line_upload_mbps"])
    LoadThreshold.ensure_defaults()
    if LoadRollup.objects.exists():
        return [f"Server load: {LoadRollup.objects.count()} history rows already there"]
    rng = random.Random(6)  # noqa: S311 - made-up chart wiggle, not a secret
    now = timezone.now()
    live = live_reading()
    line = (settings.line_download_mbps, settings.line_upload_mbps)
    rows, built = [], {}
    for tier, count in (("5m", 7 * 288), ("1h", 7 * 24), ("1d", 7)):
        # Every bucket up to the one in progress: the chart's newest part comes from the live samples.
        until = bucket_floor(now, tier)
        step = STEP[tier]
        for i in range(count):
            at = until - step * (count - i)
            base = history_values(at + step / 2, now, live, line)
            values = {}
            for field in ROLLUP_FIELDS:
                values[f"{field}_avg"] = max(base[field], 0.0)
                values[f"{field}_max"] = max(base[field] * (1.1 + rng.random() * 0.3), 0.0)
            samples = {"5m": 5, "1h": 60, "1d": 1440}[tier]
            rows.append(LoadRollup(tier=tier, bucket_start=at, samples=samples, **values))
        built[tier] = until.isoformat()
    LoadRollup.objects.bulk_create(rows, ignore_conflicts=True)
    # The live rollups carry on from the end of the made-up ones, not from their start a week ago.
    LoadState.store(rolled_until=built)
    return [f"Server load: line 100/20 Mbit/s, a week of demo history ({len(rows)} rollups) joining the live samples"]
