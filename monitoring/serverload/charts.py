"""Server-rendered SVG for the load dashboard: line charts with thresholds, and gauges.

Everything here returns plain numbers and path strings that the templates put
into inline ``<svg>`` with presentation attributes only (the CSP forbids inline
styles and scripts). A chart never draws more than ``MAX_POINTS`` points: the
rows of a tier are merged (average of averages, maximum of maxima) when needed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.safestring import mark_safe

from monitoring.serverload.rollups import RANGES, RAW, STEP, series

WIDTH, HEIGHT = 720, 180
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 10, 24
MAX_POINTS = 240  # a chart is shown 400-550 px wide: about two pixels a point


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
    marks: list[tuple[float, str, str, float]] = field(default_factory=list)  # (y, label, css, label baseline)
    empty: bool = True
    latest: str = ""
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    top: int = TOP
    bottom_edge: int = HEIGHT - BOTTOM
    # For the value readout (static/js/load.js reads values back from the drawn lines with these).
    y_top: float = 100.0
    start: int = 0  # epoch seconds at the left edge of the plot
    end: int = 0  # and at the right edge
    time_zone: str = "UTC"


@dataclass
class Frame:
    """The time axis shared by every chart of one range: x of each row, and where the data has a gap."""

    start: datetime
    end: datetime
    xs: list[int]
    breaks: list[bool]  # True where the line must restart (the sampler was stopped)
    span: float
    merge_size: int = 1  # rows merged into one point (see _downsample)
    x_ticks: list[tuple[int, str]] = field(default_factory=list)
    x_text: list[str] = field(default_factory=list)  # "x," of each point, shared by every line of the range

    @classmethod
    def build(cls, stamps: list[float], start: datetime, end: datetime, step: timedelta) -> Frame:
        span = (end - start).total_seconds() or 1.0
        plot_w = WIDTH - LEFT - RIGHT
        origin = start.timestamp()
        gap = step.total_seconds() * 2.5
        size = math.ceil(len(stamps) / MAX_POINTS) if len(stamps) > MAX_POINTS else 1
        # Only the first row of each merged point needs an x; a gap anywhere in a point restarts the line there.
        gaps = [i + 1 for i, (a, b) in enumerate(itertools.pairwise(stamps)) if b - a > gap]
        restarts = {0, *(i // size for i in gaps)}
        firsts = stamps[::size]
        xs = [LEFT + int(plot_w * min(max((t - origin) / span, 0.0), 1.0)) for t in firsts]
        breaks = [i in restarts for i in range(len(firsts))]
        frame = cls(start, end, xs, breaks, span, size)
        frame.x_text = [f"{x}," for x in xs]
        tz = timezone.get_current_timezone()
        fmt = "%H:%M" if span <= 2 * 86400 else "%d %b"
        moments = [start + (end - start) * f for f in (0, 0.25, 0.5, 0.75, 1)]
        frame.x_ticks = [(frame.x_of(m), timezone.localtime(m, tz).strftime(fmt)) for m in moments]
        return frame

    def x_of(self, moment: datetime) -> int:
        return LEFT + int((WIDTH - LEFT - RIGHT) * min(max((moment - self.start).total_seconds() / self.span, 0), 1))


def _merge(values: list[float | None], size: int, kind: str) -> list[float | None]:
    """Merge each ``size`` neighbours into one: the maximum of maxima, the average of averages."""
    whole = len(values) // size * size
    if None in values:
        chunks = [[v for v in values[i : i + size] if v is not None] for i in range(0, len(values), size)]
        pick = max if kind == "max" else (lambda chunk: sum(chunk) / len(chunk))
        return [pick(chunk) if chunk else None for chunk in chunks]
    columns = [values[i:whole:size] for i in range(size)]  # C-level zip/map: a year of rows stays cheap
    if kind == "max":
        merged = list(map(max, *columns))
    else:
        merged = [total / size for total in map(sum, zip(*columns, strict=True))]
    if whole < len(values):
        tail = values[whole:]
        merged.append(max(tail) if kind == "max" else sum(tail) / len(tail))
    return merged


def _top(values: list[float | None]) -> float:
    try:
        return max(values, default=0.0) or 0.0
    except TypeError:  # None among the values (a gap)
        return max((v for v in values if v is not None), default=0.0)


def nice_ceiling(value: float) -> float:
    """A round upper bound for an axis: 1, 2, 5 x 10^n."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * 10**exponent:
            return float(step * 10**exponent)
    return float(10 ** (exponent + 1))


def _path(frame: Frame, values: list[float | None], y_top: float) -> str:
    """An SVG path in whole pixels, restarting at gaps; built with comprehensions, as a year of rows is common."""
    if not values:
        return ""
    bottom, scale = HEIGHT - BOTTOM, (HEIGHT - TOP - BOTTOM) / y_top
    ys = [None if v is None else bottom - int((y_top if v > y_top else (v if v > 0 else 0.0)) * scale) for v in values]
    cuts = sorted({i for i, restart in enumerate(frame.breaks) if restart} | {i for i, y in enumerate(ys) if y is None})
    segments = []
    for begin, finish in zip(cuts, [*cuts[1:], len(ys)], strict=True):
        if ys[begin] is None:
            begin += 1
        if begin < finish:
            points = map(str.__add__, frame.x_text[begin:finish], map(str, ys[begin:finish]))
            segments.append("M" + " L".join(points))
    return mark_safe(" ".join(segments))  # noqa: S308 - numbers, M and L only


def tick_label(value: float, unit: str) -> str:
    """Short axis labels (the left margin holds about seven characters)."""
    if unit == "bit/s":
        return f"{value / 1e6:g}M" if value >= 1e6 else f"{value / 1e3:g}k"
    if unit == "B/s":
        return f"{value / 1e6:g}MB" if value >= 1e6 else f"{value / 1e3:g}kB"
    if unit == "%":
        # A share of a line set too low reaches thousands of percent: keep the label inside the margin.
        return f"{value / 1000:g}k %" if value >= 1000 else f"{value:g} %"
    return f"{value:g}"


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


MARK_LABEL_HEIGHT = 12  # viewBox units of a mark label (.chart .mark-label is 12px)


def place_mark_labels(marks: list[tuple[float, str, str]]) -> list[tuple[float, str, str, float | None]]:
    """(y, label, css, label baseline) for each mark.

    Labels sit at the right end of their lines, away from the axis labels on the left ("warning 80" beside
    "100 %" read as one). Each goes above its line, else below it, else just above the labels already placed;
    never over another label, the top of the plot or the time axis. A label with no room left is not drawn
    (baseline None): its dashed line still carries its name as a tooltip.
    """
    bands: list[tuple[float, float]] = []
    placed = []
    for y, label, css in sorted(marks, reverse=True):  # from the bottom up
        candidates = [y - 3, y + 3 + MARK_LABEL_HEIGHT]
        if bands:
            candidates.append(min(top for top, _ in bands) - 2)
        for baseline in candidates:
            top = baseline - MARK_LABEL_HEIGHT
            free = all(top >= other_bottom or baseline <= other_top for other_top, other_bottom in bands)
            if top >= TOP and baseline <= HEIGHT - BOTTOM and free:
                bands.append((top, baseline))
                placed.append((y, label, css, round(baseline, 1)))
                break
        else:
            placed.append((y, label, css, None))
    return sorted(placed)


def line_chart(
    key: str,
    title: str,
    unit: str,
    frame: Frame,
    lines: list[tuple[str, str, list[float | None], str]],  # (label, css, values, "avg" | "max")
    marks: list[tuple[float, str, str]] | None = None,
    y_max: float | None = None,
) -> Chart:
    chart = Chart(key, title, unit)
    chart.start, chart.end = int(frame.start.timestamp()), int(frame.end.timestamp())
    chart.time_zone = timezone.get_current_timezone_name()
    columns = [
        values if frame.merge_size == 1 else _merge(values, frame.merge_size, kind) for _, _, values, kind in lines
    ]
    top_value = max((_top(values) for values in columns), default=0.0)
    top_value = max(top_value, *(m[0] for m in marks or [(0.0,)]))
    y_top = y_max if y_max is not None and top_value <= y_max else nice_ceiling(top_value * 1.05)
    plot_h = HEIGHT - TOP - BOTTOM
    chart.y_top = y_top

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - min(max(value / y_top, 0.0), 1.0))

    for (label, css, _, _), values in zip(lines, columns, strict=True):
        path = _path(frame, values, y_top)
        if path:
            chart.lines.append(Line(label, css, path))
    chart.empty = not chart.lines
    chart.y_ticks = [(y_of(y_top * f), tick_label(y_top * f, unit)) for f in (0, 0.5, 1)]
    chart.marks = place_mark_labels([(y_of(v), label, css) for v, label, css in marks or [] if v <= y_top])
    chart.x_ticks = frame.x_ticks
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
    ("connections", "Connections on the mail ports", "", ["connections"], None, None),
]


def dashboard_charts(
    range_key: str, thresholds: dict, interval: int = 60, now: datetime | None = None, rolled_until: dict | None = None
) -> tuple[list[Chart], Chart]:
    """All the dashboard's charts for one range, from the tier that fits it (``rollups.series``)."""
    now = now or timezone.now()
    chart_range = RANGES[range_key]
    has_max = chart_range.tier != RAW
    kinds = ("max", "avg") if has_max else ("avg",)
    wanted = [(chart_fields[0], kind) for *_, chart_fields, _, _ in CHARTS for kind in kinds]
    wanted += [("net_in", "avg"), ("net_out", "avg"), ("queue", "max"), ("queue_deferred", "max")]
    chart_range, rows = series(range_key, wanted, now, rolled_until)
    step = timedelta(seconds=interval) if chart_range.tier == RAW else STEP[chart_range.tier]
    transposed = list(zip(*rows, strict=True)) or [()] * (1 + len(wanted))
    frame = Frame.build(list(transposed[0]), now - chart_range.span, now, step)
    index = {column: 1 + i for i, column in enumerate(wanted)}

    def column(name: str, kind: str) -> list[float | None]:
        return list(transposed[index[(name, kind)]])

    charts = []
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
        charts.append(line_chart(key, title, unit, frame, lines, marks, top))
    # Traffic in Mbit/s: the averages of both directions in one chart (the shares of the line are above).
    traffic_lines = [
        ("download", "series", column("net_in", "avg"), "avg"),
        ("upload", "series-2", column("net_out", "avg"), "avg"),
    ]
    charts.append(line_chart("traffic", "Traffic on the line (bit/s)", "bit/s", frame, traffic_lines))
    queue_marks = []
    if (threshold := thresholds.get("queue")) is not None and threshold.enabled:
        queue_marks = [(threshold.warning, f"warning {threshold.warning:g}", "threshold-warning")]
    queue_lines = [
        ("messages in the queue", "series", column("queue", "max"), "max"),
        ("deferred", "series-2", column("queue_deferred", "max"), "max"),
    ]
    queue = line_chart("queue", "Mail queue", "", frame, queue_lines, queue_marks)
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
    over: bool = False  # above the top of the dial (100 %): shown full, with "over capacity" in words


def _arc_point(fraction: float) -> tuple[float, float]:
    fraction = min(max(fraction, 0.0), 1.0)
    angle = math.pi * (1 - fraction)
    return 60 + 50 * math.cos(angle), 60 - 50 * math.sin(angle)


def gauge(key: str, title: str, value: float | None, threshold, unit: str = "%", top: float = 100.0) -> Gauge:
    level = threshold.level_for(value) if threshold is not None and threshold.enabled else "ok"
    if value is None:
        level = "unknown"
    over = value is not None and value > top
    # A share of the line set too low can read 19950 %: the dial stops at its top and says so in words.
    shown = top if over else value
    text = format_value(shown, unit) if unit != "messages" else ("no data" if value is None else f"{value:.0f}")
    result = Gauge(key, title, value, text, level, over=over)
    if over:
        result.text = f"{text}+"
        result.detail = f"Over capacity: {format_value(value, unit)} measured."
    if shown is not None and shown > 0:
        x, y = _arc_point(shown / top)
        result.arc = f"M10,60 A50,50 0 0 1 {x:.1f},{y:.1f}"
    if threshold is not None and threshold.enabled:
        x1, y1 = _arc_point(threshold.warning / top)
        inner = ((x1 - 60) * 0.78 + 60, (y1 - 60) * 0.78 + 60)
        result.warning_tick = f"M{inner[0]:.1f},{inner[1]:.1f} L{x1:.1f},{y1:.1f}"
    return result


RANGE_CHOICES = [(key, r.label) for key, r in RANGES.items()]
