"""Tiered storage of load history: rollups, pruning, the tier a chart reads, and the disk-full forecast.

raw samples      48 hours
5-minute buckets 30 days   (average and maximum of the raw samples)
hourly buckets   2 years   (from the 5-minute buckets, weighted by their sample counts)
daily buckets    2 years   (from the hourly buckets; what a one-year chart reads)

A chart of any range reads at most a few hundred rows of one tier, so its cost
does not grow with the age of the installation.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connections, transaction
from django.db.models import Avg, Count, Max
from django.utils import timezone

from monitoring.serverload.models import ROLLUP_FIELDS, LoadRollup, LoadSample, LoadState

Tier = LoadRollup.Tier
RAW = "raw"
STEP = {Tier.FIVE_MINUTES: timedelta(minutes=5), Tier.HOUR: timedelta(hours=1), Tier.DAY: timedelta(days=1)}
SOURCE = {Tier.FIVE_MINUTES: RAW, Tier.HOUR: Tier.FIVE_MINUTES, Tier.DAY: Tier.HOUR}
RETENTION = {
    RAW: timedelta(hours=48),
    Tier.FIVE_MINUTES: timedelta(days=30),
    Tier.HOUR: timedelta(days=730),
    Tier.DAY: timedelta(days=730),
}
# At most this many buckets per tier per run, so a long outage is caught up over a few ticks.
MAX_BUCKETS_PER_RUN = 600


@dataclass(frozen=True)
class Range:
    key: str
    label: str
    span: timedelta
    tier: str


RANGES = {
    "1h": Range("1h", "1 hour", timedelta(hours=1), RAW),
    "24h": Range("24h", "24 hours", timedelta(hours=24), Tier.FIVE_MINUTES),
    "7d": Range("7d", "7 days", timedelta(days=7), Tier.HOUR),
    "30d": Range("30d", "30 days", timedelta(days=30), Tier.HOUR),
    "1y": Range("1y", "1 year", timedelta(days=365), Tier.DAY),
}


def bucket_floor(moment: datetime, tier: str) -> datetime:
    moment = moment.astimezone(UTC)
    if tier == Tier.DAY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if tier == Tier.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


def _aggregate_raw(start: datetime, end: datetime) -> dict | None:
    rows = LoadSample.objects.filter(taken_at__gte=start, taken_at__lt=end)
    spec = {"samples": Count("id")}
    for field in ROLLUP_FIELDS:
        spec[f"{field}_avg"] = Avg(field)
        spec[f"{field}_max"] = Max(field)
    values = rows.aggregate(**spec)
    return values if values["samples"] else None


def _aggregate_tier(source: str, start: datetime, end: datetime) -> dict | None:
    rows = list(
        LoadRollup.objects.filter(tier=source, bucket_start__gte=start, bucket_start__lt=end).values(
            "samples", *(f"{f}_{kind}" for f in ROLLUP_FIELDS for kind in ("avg", "max"))
        )
    )
    if not rows:
        return None
    values: dict = {"samples": sum(row["samples"] for row in rows)}
    for field in ROLLUP_FIELDS:
        weighted = [(row[f"{field}_avg"], row["samples"]) for row in rows if row[f"{field}_avg"] is not None]
        weight = sum(w for _, w in weighted)
        values[f"{field}_avg"] = sum(v * w for v, w in weighted) / weight if weight else None
        maxima = [row[f"{field}_max"] for row in rows if row[f"{field}_max"] is not None]
        values[f"{field}_max"] = max(maxima) if maxima else None
    return values


def _first_source_time(source: str, after: datetime | None) -> datetime | None:
    if source == RAW:
        rows = LoadSample.objects.order_by("taken_at")
        if after:
            rows = rows.filter(taken_at__gte=after)
        return rows.values_list("taken_at", flat=True).first()
    rows = LoadRollup.objects.filter(tier=source).order_by("bucket_start")
    if after:
        rows = rows.filter(bucket_start__gte=after)
    return rows.values_list("bucket_start", flat=True).first()


def build_tier(tier: str, now: datetime | None = None) -> int:
    """Build the complete buckets of ``tier`` not built yet; return how many were written."""
    now = now or timezone.now()
    state = LoadState.load()
    done = state.rolled_until.get(tier)
    done_until = datetime.fromisoformat(done) if done else None
    first = _first_source_time(SOURCE[tier], done_until)
    if first is None:
        return 0
    start = bucket_floor(first, tier)
    if done_until and start < done_until:
        start = done_until
    limit = bucket_floor(now, tier)  # the current bucket is not complete yet
    written = 0
    while start < limit and written < MAX_BUCKETS_PER_RUN:
        end = start + STEP[tier]
        source = SOURCE[tier]
        values = _aggregate_raw(start, end) if source == RAW else _aggregate_tier(source, start, end)
        if values:
            LoadRollup.objects.update_or_create(tier=tier, bucket_start=start, defaults=values)
            written += 1
        start = end
        if not values:
            # Skip an empty stretch (the sampler was stopped) in one step.
            following = _first_source_time(source, start)
            if following is None or following >= limit:
                start = limit
            elif following > start:
                start = bucket_floor(following, tier)
    state.rolled_until[tier] = start.isoformat()
    LoadState.store(rolled_until=state.rolled_until)
    return written


def build_rollups(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    return {tier: build_tier(tier, now) for tier in (Tier.FIVE_MINUTES, Tier.HOUR, Tier.DAY)}


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete what is older than each tier keeps."""
    now = now or timezone.now()
    deleted = {RAW: LoadSample.objects.filter(taken_at__lt=now - RETENTION[RAW]).delete()[0]}
    for tier in (Tier.FIVE_MINUTES, Tier.HOUR, Tier.DAY):
        cutoff = now - RETENTION[tier]
        deleted[tier] = LoadRollup.objects.filter(tier=tier, bucket_start__lt=cutoff).delete()[0]
    return deleted


# --- Reading for charts -----------------------------------------------------------------------


def _rows_with_epoch(queryset, time_field: str, columns: list[str]) -> list[tuple]:
    """Rows ``(epoch seconds, *columns)``, read from the cursor.

    Django converts every datetime through its converters, which for a chart of
    a year costs more than the query itself; the chart only needs seconds.
    """
    sql, params = queryset.values_list(time_field, *columns).query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if rows and isinstance(rows[0][0], str):  # SQLite keeps naive UTC text
        parse = datetime.fromisoformat
        return [(parse(row[0]).replace(tzinfo=UTC).timestamp(), *row[1:]) for row in rows]
    return [(row[0].timestamp(), *row[1:]) for row in rows]


def _tier_rows(tier: str, wanted: list[tuple[str, str]], since: datetime) -> list[tuple]:
    if tier == RAW:
        fields = sorted({name for name, _ in wanted})
        rows = LoadSample.objects.filter(taken_at__gte=since).order_by("taken_at")
        positions = [1 + fields.index(name) for name, _ in wanted]
        return [(row[0], *(row[i] for i in positions)) for row in _rows_with_epoch(rows, "taken_at", fields)]
    columns = [f"{name}_{kind}" for name, kind in wanted]
    query = LoadRollup.objects.filter(tier=tier, bucket_start__gte=since).order_by("bucket_start")
    rows = _rows_with_epoch(query, "bucket_start", columns)
    # The newest bucket is not complete yet: its part so far comes from the finer tier (a handful of rows).
    tail_from = datetime.fromtimestamp(rows[-1][0], UTC) + STEP[tier] if rows else since
    return rows + _tier_rows(SOURCE[tier], wanted, tail_from)


# Complete buckets never change once built, so each process keeps the rows it read last for each range,
# already merged to the points the chart draws, and reads them again only when the tier has grown
# (``LoadState.rolled_until`` moved): a 30-day chart reads its 720 hourly rows once an hour, and the
# dashboard's refresh every minute reads only the newest hour's rows.
_COMPLETE: dict[tuple, list[tuple]] = {}
_COMPLETE_ENTRIES = 16


def rows_per_point(chart_range: Range, max_points: int) -> int:
    """How many buckets of its tier make one point of a chart of ``chart_range`` drawn with ``max_points``."""
    if chart_range.tier == RAW:
        return 1  # the sample interval is a setting: the chart merges raw rows itself
    return max(1, math.ceil(chart_range.span / STEP[chart_range.tier] / max_points))


def keeps_complete_rows(chart_range: Range, rolled_until: dict | None) -> bool:
    """Whether ``series`` serves this range's complete buckets from the process's copy (merged per point)."""
    return chart_range.tier != RAW and bool((rolled_until or {}).get(chart_range.tier))


def merge_rows(rows: list[tuple], wanted: list[tuple[str, str]], seconds: int) -> list[tuple]:
    """Rows merged per ``seconds`` of clock time (so a point keeps its rows as the range moves on): the first
    row's time, the average of the averages and the maximum of the maxima, a gap (None) left out."""
    kinds = [kind for _, kind in wanted]
    merged = []
    for _, grouped in itertools.groupby(rows, key=lambda row: int(row[0]) // seconds):
        group = list(grouped)
        if len(group) == 1:
            merged.append(group[0])
            continue
        values: list = [group[0][0]]
        for kind, column in zip(kinds, list(zip(*group, strict=True))[1:], strict=True):
            present = [value for value in column if value is not None]
            if not present:
                values.append(None)
            else:
                values.append(max(present) if kind == "max" else sum(present) / len(present))
        merged.append(tuple(values))
    return merged


def _complete_rows(
    chart_range: Range, wanted: list[tuple[str, str]], since: datetime, rolled_until: str, per_point: int
) -> list:
    key = (chart_range.key, tuple(wanted), rolled_until, per_point)
    rows = _COMPLETE.get(key)
    if rows is None:
        # Up to the bucket the tier was built to: what is after it comes from the finer tier on each request.
        until = datetime.fromisoformat(rolled_until)
        columns = [f"{name}_{kind}" for name, kind in wanted]
        query = LoadRollup.objects.filter(tier=chart_range.tier, bucket_start__gte=since, bucket_start__lt=until)
        rows = _rows_with_epoch(query.order_by("bucket_start"), "bucket_start", columns)
        if per_point > 1:
            rows = merge_rows(rows, wanted, int(STEP[chart_range.tier].total_seconds()) * per_point)
        while len(_COMPLETE) >= _COMPLETE_ENTRIES:
            _COMPLETE.pop(next(iter(_COMPLETE)))
        _COMPLETE[key] = rows
    # The range's start moves on with the clock: drop what fell out of it since the rows were read.
    return rows[bisect_left(rows, (since.timestamp(),)) :]


def series(
    range_key: str,
    wanted: list[tuple[str, str]],
    now: datetime | None = None,
    rolled_until: dict | None = None,
    per_point: int = 1,
) -> tuple[Range, list[tuple]]:
    """Rows ``(epoch seconds, *values)`` for a chart range, from the tier that fits it, up to the latest sample.

    ``wanted`` lists ``(field, "avg" | "max")``; raw samples have one value, used for both. With
    ``rolled_until`` (``LoadState.rolled_until``) the complete buckets come from this process's copy while
    the tier has not grown since it read them, merged ``per_point`` to a point (``keeps_complete_rows``);
    the newest rows after them are never merged.
    """
    now = now or timezone.now()
    chart_range = RANGES[range_key]
    since = now - chart_range.span
    if not keeps_complete_rows(chart_range, rolled_until):
        return chart_range, _tier_rows(chart_range.tier, wanted, since)
    built = rolled_until[chart_range.tier]
    rows = _complete_rows(chart_range, wanted, since, built, per_point)
    newer = _tier_rows(chart_range.tier, wanted, max(since, datetime.fromisoformat(built)))
    return chart_range, rows + newer


# --- Disk-full forecast -----------------------------------------------------------------------


def disk_forecast(now: datetime | None = None, window: timedelta = timedelta(hours=48)) -> list[dict]:
    """Per watched mount: growth per day over the window (least squares) and days until full at that rate."""
    now = now or timezone.now()
    points: dict[str, list[tuple[float, float]]] = {}
    latest: dict[str, dict] = {}
    rows = LoadSample.objects.filter(taken_at__gte=now - window).order_by("taken_at")
    for taken_at, disks in rows.values_list("taken_at", "disks").iterator(chunk_size=500):
        for disk in disks:
            points.setdefault(disk["mount"], []).append((taken_at.timestamp(), float(disk["used"])))
            latest[disk["mount"]] = disk
    forecast = []
    for mount, series_points in points.items():
        disk = latest[mount]
        entry = {"mount": mount, "percent": disk["percent"], "free": disk["free"], "per_day": None, "days": None}
        span = series_points[-1][0] - series_points[0][0]
        if len(series_points) >= 3 and span >= 3600:
            n = len(series_points)
            mean_t = sum(t for t, _ in series_points) / n
            mean_u = sum(u for _, u in series_points) / n
            var = sum((t - mean_t) ** 2 for t, _ in series_points)
            slope = sum((t - mean_t) * (u - mean_u) for t, u in series_points) / var if var else 0.0
            entry["per_day"] = slope * 86400
            if slope > 0:
                entry["days"] = disk["free"] / (slope * 86400)
        forecast.append(entry)
    return sorted(forecast, key=lambda e: e["mount"])


def refresh_forecast(now: datetime | None = None) -> list[dict]:
    now = now or timezone.now()
    forecast = disk_forecast(now)
    LoadState.store(disk_forecast=forecast, forecast_at=now)
    return forecast


def maintain(now: datetime | None = None) -> dict:
    """Roll up, and once an hour prune and refresh the disk forecast (claimed like a sample)."""
    from monitoring.serverload.models import LoadSettings

    now = now or timezone.now()
    result: dict = {"rollups": build_rollups(now)}
    settings = LoadSettings.load()
    if settings.next_prune_at <= now:
        claimed = LoadSettings.objects.filter(pk=settings.pk, next_prune_at=settings.next_prune_at).update(
            next_prune_at=now + timedelta(hours=1)
        )
        if claimed:
            with transaction.atomic():
                result["pruned"] = prune(now)
            result["forecast"] = refresh_forecast(now)
    return result


def totals() -> dict[str, int]:
    """How many rows each tier holds (for the settings page and the docs)."""
    counts = dict(LoadRollup.objects.values_list("tier").annotate(n=Count("id")).values_list("tier", "n"))
    counts[RAW] = LoadSample.objects.count()
    return counts
