"""SVG chart building: gaps break the line, many rows are merged, gauges take the threshold colours."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from monitoring.serverload import charts
from monitoring.serverload.models import LoadThreshold

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def frame_for(offsets: list[int], span: timedelta = timedelta(hours=2)) -> charts.Frame:
    stamps = [START.timestamp() + offset for offset in offsets]
    return charts.Frame.build(stamps, START, START + span, timedelta(minutes=1))


def test_a_gap_in_the_samples_breaks_the_line():
    frame = frame_for([0, 60, 120, 3600, 3660])
    path = charts._path(frame, [10.0, 20.0, 30.0, 40.0, 50.0], 100.0)
    assert path.count("M") == 2 and path.count("L") == 3


def test_a_missing_value_breaks_the_line_too():
    frame = frame_for([0, 60, 120, 180])
    path = charts._path(frame, [10.0, None, 30.0, 40.0], 100.0)
    assert path.startswith("M") and path.count("M") == 2 and path.count("L") == 1


def test_values_above_the_top_are_clipped_to_the_plot():
    frame = frame_for([0, 60])
    path = charts._path(frame, [250.0, -5.0], 100.0)
    assert path == f"M{charts.LEFT},{charts.TOP} L{frame.xs[1]},{charts.HEIGHT - charts.BOTTOM}"


def test_many_rows_are_merged_keeping_maxima_and_averages():
    rows = 1000
    frame = frame_for([i * 60 for i in range(rows)], span=timedelta(minutes=rows))
    assert len(frame.xs) <= charts.MAX_POINTS and frame.merge_size == 5
    values = [float(i % 5) for i in range(rows)]
    assert set(charts._merge(values, 5, "max")) == {4.0}
    assert set(charts._merge(values, 5, "avg")) == {2.0}
    with_gap = [None, None, None, None, None, 1.0, 3.0, None]
    assert charts._merge(with_gap, 5, "avg") == [None, 2.0]
    assert charts._merge([1.0, 2.0, 3.0, 4.0, 9.0, 7.0, 8.0], 5, "max") == [9.0, 8.0]


def test_a_chart_draws_its_marks_and_scales_counts(db):
    frame = frame_for([0, 60, 120])
    chart = charts.line_chart(
        "queue", "Mail queue", "", frame, [("queue", "series", [3.0, 70.0, 12.0], "max")], [(50.0, "warning", "w")]
    )
    assert [label for _, label in chart.y_ticks] == ["0", "50", "100"]
    assert chart.marks[0][1] == "warning"
    assert chart.latest == "12"


def test_gauges_take_ok_warning_critical_colours(db):
    threshold = LoadThreshold(metric="cpu", warning=80, critical=90, clear=70)
    assert charts.gauge("cpu", "CPU", 42.0, threshold).level == "ok"
    assert charts.gauge("cpu", "CPU", 85.0, threshold).level == "warning"
    assert charts.gauge("cpu", "CPU", 95.0, threshold).level == "critical"
    assert charts.gauge("cpu", "CPU", None, threshold).level == "unknown"
    assert charts.gauge("cpu", "CPU", 100.0, threshold).arc.endswith("110.0,60.0")


def test_a_gauge_stops_at_100_percent_and_says_over_capacity_in_words(db):
    threshold = LoadThreshold(metric="net_in_pct", warning=80, critical=90, clear=70)
    gauge = charts.gauge("net_in_pct", "Download", 19950.0, threshold)
    assert gauge.over and gauge.text == "100 %+" and gauge.level == "critical"
    assert gauge.arc.endswith("110.0,60.0")  # a full dial, not a spiral
    assert gauge.detail == "Over capacity: 19950 % measured."
    assert not charts.gauge("net_in_pct", "Download", 100.0, threshold).over


def label_band(baseline: float) -> tuple[float, float]:
    return baseline - charts.MARK_LABEL_HEIGHT, baseline


def test_mark_labels_never_overlap_each_other_the_top_or_the_axis_labels():
    # Warning 80 and critical 90 on a chart whose top is 200 (a load above 100 %): 7 units apart.
    frame = frame_for([0, 60, 120])
    marks = [(80.0, "warning 80", "threshold-warning"), (90.0, "critical 90", "threshold")]
    chart = charts.line_chart("load", "Load", "%", frame, [("v", "series", [150.0, 190.0, 120.0], "avg")], marks, 100.0)
    assert not_overlapping(chart.marks)
    # Labels sit at the right end; the axis labels ("100 %") are in the left margin, so they never meet.
    [(*_, baseline)] = charts.place_mark_labels([(12.0, "warning 95", "threshold-warning")])
    assert label_band(baseline)[0] >= charts.TOP  # too close to the top: below its line
    # Both marks squeezed at the bottom (a share of the line at 19950 %): stacked upwards, above the time axis.
    bottom = charts.HEIGHT - charts.BOTTOM
    crowded = charts.place_mark_labels([(bottom - 0.6, "warning 80", "w"), (bottom - 0.7, "critical 90", "c")])
    assert not_overlapping(crowded) and all(baseline <= bottom for *_, baseline in crowded)
    # Marks near the top and each other: the labels still never touch.
    assert not_overlapping(charts.place_mark_labels([(24.6, "critical 90", "c"), (17.3, "warning 95", "w")]))


def not_overlapping(marks) -> bool:
    bands = sorted(label_band(baseline) for *_, baseline in marks if baseline is not None)
    inside = all(top >= charts.TOP and bottom <= charts.HEIGHT - charts.BOTTOM for top, bottom in bands)
    return inside and all(upper[1] <= lower[0] for upper, lower in itertools.pairwise(bands))


def test_a_chart_carries_what_the_readout_needs(db):
    frame = frame_for([0, 60, 120])
    chart = charts.line_chart("cpu", "CPU", "%", frame, [("value", "series", [10.0, 20.0, 30.0], "avg")], [], 100.0)
    assert (chart.y_top, chart.start, chart.end) == (100.0, int(START.timestamp()), int(START.timestamp()) + 7200)
    assert chart.time_zone
