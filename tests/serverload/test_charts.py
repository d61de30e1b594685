"""SVG chart building: gaps break the line, many rows are merged, gauges take the threshold colours."""

from __future__ import annotations

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
