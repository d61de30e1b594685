"""The server load part of the demo organisation (``manage.py demo``)."""

from __future__ import annotations


def load() -> list[str]:
    """Line capacity, alert marks and a week of made-up history (rollups only: real samples start at once)."""
    import math
    import random
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.serverload.models import ROLLUP_FIELDS, LoadRollup, LoadSettings, LoadThreshold

    settings = LoadSettings.load()
    if settings.line_download_mbps is None:
        settings.line_download_mbps, settings.line_upload_mbps = 100.0, 20.0
        settings.save(update_fields=["line_download_mbps", "line_upload_mbps"])
    LoadThreshold.ensure_defaults()
    if LoadRollup.objects.exists():
        return [f"Server load: {LoadRollup.objects.count()} history rows already there"]
    rng = random.Random(6)  # noqa: S311 - made-up chart wiggle, not a secret
    end = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    rows = []
    for tier, step, count in (("5m", timedelta(minutes=5), 7 * 288), ("1h", timedelta(hours=1), 7 * 24)):
        for i in range(count):
            at = end - step * (count - i)
            day = math.sin(2 * math.pi * (at.hour * 60 + at.minute) / 1440 - math.pi / 2)
            base = {
                "cpu": 18 + 12 * day, "load": 12 + 8 * day, "memory": 52 + 3 * day, "swap": 1.0,
                "disk": 61 + 2 * i / count, "disk_read": 2e6, "disk_write": 1e6,
                "net_in": (30 + 20 * day) * 1e6, "net_out": (4 + 2 * day) * 1e6,
                "net_in_pct": 30 + 20 * day, "net_out_pct": 20 + 10 * day,
                "connections": 25 + 15 * day, "queue": 6 + 4 * day, "queue_deferred": 2.0, "deferred_age": 0.5,
            }  # fmt: skip
            values = {}
            for field in ROLLUP_FIELDS:
                values[f"{field}_avg"] = max(base[field], 0.0)
                values[f"{field}_max"] = max(base[field] * (1.1 + rng.random() * 0.3), 0.0)
            rows.append(LoadRollup(tier=tier, bucket_start=at, samples=5 if tier == "5m" else 60, **values))
    LoadRollup.objects.bulk_create(rows, ignore_conflicts=True)
    return [f"Server load: line 100/20 Mbit/s, a week of demo history ({len(rows)} rollups); live samples follow"]
