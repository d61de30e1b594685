"""Server-rendered SVG for the load dashboard: line charts with thresholds, and gauges.

Everything here returns plain numbers and path strings that the templates put
into inline ``<svg>`` with presentation attributes only (the CSP forbids inline
styles and scripts). A chart never draws more than ``MAX_POINTS`` points: the
rows of a tier are merged (average of averages, maximum of maxima) when needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from monitoring.rollups import RANGES, RAW, STEP, series

WIDTH, HEIGHT = 720, 180
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 10, 24
MAX_POINTS = 360


@dataclass
class Line:
    label: str
    css: str  # series | series-max | series-2
    path: str


@dataclass
class Chart:
    key: str
    title: str
    unit: str
    lines: list[Line] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    marks: list[tuple[float, str, str]] = field(default_factory=list)  # (y, label, css)
    empty: bool = True
    latest: str = ""
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    top: int = TOP
    bottom_edge: int = HEIGHT - BOTTOM


def _downsample(times: list[datetime], columns: list[list[float | None]], kinds: list[str]) -> tuple:
    if len(times) <= MAX_POINTS:
        return times, columns
    size = math.ceil(len(times) / MAX_POINTS)
    new_times = [times[i] for i in range(0, len(times), size)]
    new_columns = []
    for values, kind in zip(columns, kinds, strict=True):
        merged = []
        for i in range(0, len(values), size):
            chunk = [v for v in values[i : i + size] if v is not None]
            merged.append((max(chunk) if kind == "max" else sum(chunk) / len(chunk)) if chunk else None)
        new_columns.append(merged)
    return new_times, new_columns


def nice_ceiling(value: float) -> float:
    """A round upper bound for an axis: 1, 2, 5 x 10^n."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * 10**exponent:
            return float(step * 10**exponent)
    return float(10 ** (exponent + 1))


def _path(times: list[datetime], values: list[float | None], x_of, y_of, gap: timedelta) -> str:
    parts: list[str] = []
    previous: datetime | None = None
    for moment, value in zip(times, values, strict=True):
        if value is None:
            previous = None
            continue
        command = "L" if previous is not None and moment - previous <= gap else "M"
        parts.append(f"{command}{x_of(moment):.1f},{y_of(value):.1f}")
        previous = moment
    return " ".join(parts)


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "%":
        return f"{value:.0f} %"
    if unit == "bit/s":
        return f"{value / 1e6:.1f} Mbit/s" if value >= 1e5 else f"{value / 1e3:.0f} kbit/s"
    if unit == "B/s":
        return f"{value / 1e6:.1f} MB/s" if value >= 1e5 else f"{value / 1e3:.0f} kB/s"
    return f"{value:.0f}"


def line_chart(
    key: str,
    title: str,
    unit: str,
    times: list[datetime],
    lines: list[tuple[str, str, list[float | None], str]],  # (label, css, values, "avg" | "max")
    start: datetime,
    end: datetime,
    step: timedelta,
    marks: list[tuple[float, str, str]] | None = None,
    y_max: float | None = None,
) -> Chart:
    chart = Chart(key, title, unit)
    times, columns = _downsample(times, [values for _, _, values, _ in lines], [kind for *_, kind in lines])
    present = [v for values in columns for v in values if v is not None]
    top_value = max([*present, *(m[0] for m in marks or [])], default=0.0)
    y_top = y_max if y_max is not None and top_value <= y_max else nice_ceiling(top_value * 1.05)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = (end - start).total_seconds() or 1.0

    def x_of(moment: datetime) -> float:
        return LEFT + plot_w * min(max((moment - start).total_seconds() / span, 0.0), 1.0)

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - min(max(value / y_top, 0.0), 1.0))

    # A gap in the data (sampler stopped) breaks the line instead of drawing across it.
    gap = max(step * 2.5, (times[-1] - times[0]) / MAX_POINTS * 2.5 if len(times) > 1 else step)
    for (label, css, _, _), values in zip(lines, columns, strict=True):
        path = _path(times, values, x_of, y_of, gap)
        if path:
            chart.lines.append(Line(label, css, path))
    chart.empty = not chart.lines
    chart.y_ticks = [(y_of(y_top * f), format_value(y_top * f, unit)) for f in (0, 0.5, 1)]
    chart.marks = [(y_of(v), label, css) for v, label, css in marks or [] if v <= y_top]
    tz = timezone.get_current_timezone()
    fmt = "%H:%M" if span <= 2 * 86400 else "%d %b"
    chart.x_ticks = [
        (x_of(start + (end - start) * f), timezone.localtime(start + (end - start) * f, tz).strftime(fmt))
        for f in (0, 0.25, 0.5, 0.75, 1)
    ]
    main = next((i for i, line in enumerate(lines) if line[1] == "series"), 0)
    chart.latest = format_value(next((v for v in reversed(columns[main]) if v is not None), None), unit)
    return chart


# What the dashboard charts: (key, title, unit, fields, threshold metric, fixed top)
CHARTS = [
    ("cpu", "CPU", "%", ["cpu"], "cpu", 100.0),
    ("load", "Load per core", "%", ["load"], "load", 100.0),
    ("memory", "Memory", "%", ["memory"], "memory", 100.0),
    ("disk", "Disk space (fullest watched folder)", "%", ["disk"], "disk", 100.0),
    ("net_in_pct", "Download, share of the line", "%", ["net_in_pct"], "net_in_pct", 100.0),
    ("net_out_pct", "Upload, share of the line", "%", ["net_out_pct"], "net_out_pct", 100.0),
    ("net_in", "Download", "bit/s", ["net_in"], None, None),
    ("net_out", "Upload", "bit/s", ["net_out"], None, None),
    ("connections", "Connections on the mail ports", "", ["connections"], None, None),
]


def dashboard_charts(range_key: str, thresholds: dict, now: datetime | None = None) -> tuple[list[Chart], Chart]:
    """All the dashboard's charts for one range, from one query of the tier that fits it."""
    now = now or timezone.now()
    fields = sorted({f for *_, chart_fields, _, _ in CHARTS for f in chart_fields} | {"queue", "queue_deferred"})
    chart_range, rows = series(range_key, fields, now)
    step = timedelta(minutes=1) if chart_range.tier == RAW else STEP[chart_range.tier]
    start = now - chart_range.span
    times = [row[0] for row in rows]
    index = {f: 1 + 2 * i for i, f in enumerate(fields)}

    def column(name: str, kind: str) -> list[float | None]:
        offset = index[name] + (1 if kind == "max" else 0)
        return [row[offset] for row in rows]

    charts = []
    has_max = chart_range.tier != RAW
    for key, title, unit, chart_fields, metric, top in CHARTS:
        name = chart_fields[0]
        lines = [("average" if has_max else "value", "series", column(name, "avg"), "avg")]
        if has_max:
            lines.insert(0, ("maximum", "series-max", column(name, "max"), "max"))
        marks = []
        threshold = thresholds.get(metric) if metric else None
        if threshold is not None and threshold.enabled:
            marks = [
                (threshold.warning, f"warning {threshold.warning:g}", "threshold-warning"),
                (threshold.critical, f"critical {threshold.critical:g}", "threshold"),
            ]
        charts.append(line_chart(key, title, unit, times, lines, start, now, step, marks, top))
    queue_marks = []
    if (threshold := thresholds.get("queue")) is not None and threshold.enabled:
        queue_marks = [(threshold.warning, f"warning {threshold.warning:g}", "threshold-warning")]
    queue_lines = [
        ("messages in the queue", "series", column("queue", "max" if has_max else "avg"), "max"),
        ("deferred", "series-2", column("queue_deferred", "max" if has_max else "avg"), "max"),
    ]
    queue = line_chart("queue", "Mail queue", "", times, queue_lines, start, now, step, queue_marks)
    return charts, queue


# --- Gauges ---------------------------------------------------------------------------------------


@dataclass
class Gauge:
    key: str
    title: str
    value: float | None
    text: str
    level: str  # ok | warning | critical | unknown
    arc: str = ""
    warning_tick: str = ""
    detail: str = ""


def _arc_point(fraction: float) -> tuple[float, float]:
    fraction = min(max(fraction, 0.0), 1.0)
    angle = math.pi * (1 - fraction)
    return 60 + 50 * math.cos(angle), 60 - 50 * math.sin(angle)


def gauge(key: str, title: str, value: float | None, threshold, unit: str = "%", top: float = 100.0) -> Gauge:
    level = threshold.level_for(value) if threshold is not None and threshold.enabled else "ok"
    if value is None:
        level = "unknown"
    text = format_value(value, unit) if unit != "messages" else ("no data" if value is None else f"{value:.0f}")
    result = Gauge(key, title, value, text, level)
    if value is not None and value > 0:
        x, y = _arc_point(value / top)
        result.arc = f"M10,60 A50,50 0 0 1 {x:.1f},{y:.1f}"
    if threshold is not None and threshold.enabled:
        x1, y1 = _arc_point(threshold.warning / top)
        inner = ((x1 - 60) * 0.78 + 60, (y1 - 60) * 0.78 + 60)
        result.warning_tick = f"M{inner[0]:.1f},{inner[1]:.1f} L{x1:.1f},{y1:.1f}"
    return result


RANGE_CHOICES = [(key, r.label) for key, r in RANGES.items()]
