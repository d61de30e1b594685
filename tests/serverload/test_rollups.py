"""Tiered storage: 5-minute, hourly and daily rollups, pruning, the tier a chart reads, the disk forecast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from monitoring.serverload import rollups
from monitoring.serverload.models import LoadRollup, LoadSample, LoadSettings

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_it_rolls_raw_samples_into_five_minute_buckets(make_load_sample):
    for minute, cpu in enumerate([10, 20, 30, 40, 50, 90]):
        make_load_sample(T0 + timedelta(minutes=minute), cpu=cpu)

    with time_machine.travel(T0 + timedelta(minutes=7), tick=False):
        written = rollups.build_tier("5m")

    assert written == 1  # 10:05-10:10 is not complete yet
    bucket = LoadRollup.objects.get(tier="5m")
    assert bucket.bucket_start == T0
    assert bucket.samples == 5
    assert bucket.cpu_avg == pytest.approx(30)
    assert bucket.cpu_max == 50


def test_it_builds_each_bucket_once_and_continues_where_it_stopped(make_load_sample):
    for minute in range(20):
        make_load_sample(T0 + timedelta(minutes=minute), cpu=minute)
    with time_machine.travel(T0 + timedelta(minutes=12), tick=False):
        assert rollups.build_tier("5m") == 2
        assert rollups.build_tier("5m") == 0
    with time_machine.travel(T0 + timedelta(minutes=21), tick=False):
        assert rollups.build_tier("5m") == 2
    assert LoadRollup.objects.filter(tier="5m").count() == 4


def test_hourly_buckets_weigh_five_minute_buckets_by_their_samples(make_load_sample):
    # 10:00-10:05 has one sample at 100 %, 10:05-10:10 has four at 0 %: the hour's average is 20 %, not 50 %.
    make_load_sample(T0, cpu=100)
    for minute in (5, 6, 7, 8):
        make_load_sample(T0 + timedelta(minutes=minute), cpu=0)

    with time_machine.travel(T0 + timedelta(hours=1, minutes=1), tick=False):
        assert rollups.build_rollups() == {"5m": 2, "1h": 1, "1d": 0}

    hour = LoadRollup.objects.get(tier="1h")
    assert (hour.bucket_start, hour.samples) == (T0, 5)
    assert hour.cpu_avg == pytest.approx(20)
    assert hour.cpu_max == 100


def test_a_long_gap_is_skipped_without_walking_every_bucket(make_load_sample):
    make_load_sample(T0, cpu=10)
    make_load_sample(T0 + timedelta(days=20), cpu=30)
    with time_machine.travel(T0 + timedelta(days=20, minutes=10), tick=False):
        result = rollups.build_rollups()
    assert result["5m"] == 2
    assert LoadRollup.objects.filter(tier="1d").count() == 1  # only the first day is complete and has data


def test_pruning_keeps_48_hours_raw_30_days_of_5_minutes_and_2_years_hourly(make_load_sample):
    now = T0
    make_load_sample(now - timedelta(hours=47))
    make_load_sample(now - timedelta(hours=49))
    for tier, ages in {"5m": (29, 31), "1h": (700, 740), "1d": (700, 740)}.items():
        for days in ages:
            LoadRollup.objects.create(tier=tier, bucket_start=now - timedelta(days=days), samples=1)

    deleted = rollups.prune(now)

    assert deleted == {"raw": 1, "5m": 1, "1h": 1, "1d": 1}
    assert LoadSample.objects.count() == 1
    assert LoadRollup.objects.count() == 3


def test_maintenance_prunes_once_an_hour(make_load_sample):
    LoadSettings.load()
    make_load_sample(T0 - timedelta(days=3))
    assert "pruned" in rollups.maintain(T0)
    make_load_sample(T0 - timedelta(days=3))
    assert "pruned" not in rollups.maintain(T0 + timedelta(minutes=30))
    assert LoadSample.objects.count() == 1
    assert "pruned" in rollups.maintain(T0 + timedelta(minutes=61))
    assert LoadSample.objects.count() == 0


@pytest.mark.parametrize(
    ("range_key", "tier", "rows"), [("1h", "raw", 60), ("24h", "5m", 288), ("30d", "1h", 720), ("1y", "1d", 365)]
)
def test_each_chart_range_reads_the_tier_that_fits(db, make_load_sample, range_key, tier, rows):
    now = T0
    if tier == "raw":
        for minute in range(1, 61):
            make_load_sample(now - timedelta(minutes=minute), cpu=minute)
    else:
        step = rollups.STEP[tier]
        LoadRollup.objects.bulk_create(
            LoadRollup(tier=tier, bucket_start=now - step * (i + 1), samples=1, cpu_avg=i, cpu_max=i + 1)
            for i in range(rows + 10)  # older rows outside the range are not read
        )
    chart_range, points = rollups.series(range_key, [("cpu", "avg"), ("cpu", "max")], now)
    assert chart_range.tier == tier
    assert len(points) == rows
    assert points == sorted(points)


def test_disk_forecast_says_when_the_disk_is_full_at_this_rate(make_load_sample):
    now = T0
    for hour in range(25):
        used = 50 * 10**9 + hour * (10**9 // 24)  # 1 GB a day
        free = 100 * 10**9 - used
        disks = [{"mount": "/var/mail", "percent": used / 10**9, "used": used, "total": 100 * 10**9, "free": free}]
        make_load_sample(now - timedelta(hours=24 - hour), disks=disks)

    [forecast] = rollups.disk_forecast(now)

    assert forecast["mount"] == "/var/mail"
    assert forecast["per_day"] == pytest.approx(10**9, rel=0.01)
    assert forecast["days"] == pytest.approx(49, rel=0.02)


def test_a_shrinking_or_steady_disk_has_no_full_date(make_load_sample):
    for hour in range(5):
        make_load_sample(T0 - timedelta(hours=hour))
    [forecast] = rollups.disk_forecast(T0)
    assert forecast["days"] is None


def test_a_chart_ends_with_the_latest_sample_even_before_its_bucket_is_complete(make_load_sample):
    with time_machine.travel(T0 + timedelta(minutes=12), tick=False):
        for minute in range(12):
            make_load_sample(T0 + timedelta(minutes=minute), cpu=minute)
        rollups.build_rollups()
        _, points = rollups.series("24h", [("cpu", "avg"), ("cpu", "max")])
        _, year = rollups.series("1y", [("cpu", "avg"), ("cpu", "max")])
    # Two complete 5-minute buckets, then the two raw samples of the bucket in progress.
    assert [p[1:] for p in points] == [(2.0, 4.0), (7.0, 9.0), (10.0, 10.0), (11.0, 11.0)]
    assert [p[1:] for p in year] == [(2.0, 4.0), (7.0, 9.0), (10.0, 10.0), (11.0, 11.0)]


def test_complete_buckets_are_read_once_until_the_tier_grows(make_load_sample, django_assert_num_queries):
    """The dashboard refreshes every minute: the 720 hourly rows of a 30-day chart are read again only when
    the hourly tier has grown; the newest hour still comes from the finer tiers on every request."""
    from monitoring.serverload.models import LoadState

    rollups._COMPLETE.clear()
    wanted = [("cpu", "avg"), ("cpu", "max")]
    now = T0 + timedelta(minutes=12)
    with time_machine.travel(now, tick=False):
        LoadRollup.objects.bulk_create(
            LoadRollup(tier="1h", bucket_start=T0 - timedelta(hours=i + 1), samples=60, cpu_avg=i, cpu_max=i + 1)
            for i in range(800)
        )
        for minute in range(12):
            make_load_sample(T0 + timedelta(minutes=minute), cpu=50)
        rollups.build_tier("5m")
        LoadState.store(rolled_until={**LoadState.load().rolled_until, "1h": T0.isoformat()})
        built = LoadState.load().rolled_until
        uncached = rollups.series("30d", wanted)[1]
        first = rollups.series("30d", wanted, rolled_until=built)[1]
        with django_assert_num_queries(3):  # 5-minute rows of the hour, raw tail: not the hourly rows again
            again = rollups.series("30d", wanted, rolled_until=built)[1]
    assert first == again == uncached
    assert len(first) == 719 + 2 + 2  # hourly rows in the range, two 5-minute buckets, two raw samples

    # An hour later the tier has grown: the new bucket is there and the oldest hour has left the range.
    with time_machine.travel(now + timedelta(hours=1), tick=False):
        LoadRollup.objects.create(tier="1h", bucket_start=T0, samples=60, cpu_avg=50, cpu_max=50)
        grown = {**built, "1h": (T0 + timedelta(hours=1)).isoformat()}
        later = rollups.series("30d", wanted, rolled_until=grown)[1]
        assert later == rollups.series("30d", wanted)[1]
    assert (later[0][0], later[-1][0]) != (first[0][0], first[-1][0])
    assert (T0.timestamp(), 50.0, 50.0) in later


def test_kept_rows_are_merged_per_point_by_clock_time():
    hour = 3600
    rows = [(hour * 3 * 10 + hour * i, float(i), float(i) + 1) for i in range(7)]
    rows[4] = (rows[4][0], None, None)  # a gap in the second point
    merged = rollups.merge_rows(rows, [("cpu", "avg"), ("cpu", "max")], 3 * hour)
    assert merged == [(rows[0][0], 1.0, 3.0), (rows[3][0], 4.0, 6.0), (rows[6][0], 6.0, 7.0)]
    # The same rows a minute later, the oldest out of the range: the other points keep their rows.
    assert rollups.merge_rows(rows[1:], [("cpu", "avg"), ("cpu", "max")], 3 * hour)[1:] == merged[1:]


def test_the_30_day_charts_from_kept_rows_draw_as_many_points_and_end_with_the_latest_sample(make_load_sample):
    from monitoring.serverload import charts
    from monitoring.serverload.models import LoadState

    rollups._COMPLETE.clear()
    now = T0 + timedelta(minutes=12)
    with time_machine.travel(now, tick=False):
        LoadRollup.objects.bulk_create(
            LoadRollup(tier="1h", bucket_start=T0 - timedelta(hours=i + 1), samples=60, cpu_avg=10 + i % 3, cpu_max=90)
            for i in range(720)
        )
        make_load_sample(T0 + timedelta(minutes=10), cpu=55)
        LoadState.store(rolled_until={"1h": T0.isoformat()})
        kept, _ = charts.dashboard_charts("30d", {}, rolled_until=LoadState.load().rolled_until)
        fresh, _ = charts.dashboard_charts("30d", {})
    cpu_kept, cpu_fresh = kept[0], fresh[0]
    # The newest sample is never merged into the hours before it: "latest" is the latest sample.
    assert cpu_kept.latest == "55 %"
    assert cpu_kept.y_top == cpu_fresh.y_top == 100.0
    points = [line.path.count("L") + 1 for line in cpu_kept.lines]
    fresh_points = [line.path.count("L") + 1 for line in cpu_fresh.lines]
    assert all(charts.MAX_POINTS // 2 < n <= charts.MAX_POINTS + 2 for n in points + fresh_points)
