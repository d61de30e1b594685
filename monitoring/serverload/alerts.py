"""Load alerts: raise after a metric stays above its warning mark for the duration, clear at the clear mark.

The gap between the warning mark (80 %) and the clear mark (70 %) is what keeps
an alert from flapping: a value wobbling around 80 % raises once and stays
raised until it really comes down. One alert to IT when raised, one when cleared
(``serverload.emails``: email and alert channels through the outbox, which retries),
stored in the same transaction as the alert row.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Avg, Max, Subquery
from django.utils import timezone

from monitoring.serverload import emails
from monitoring.serverload.models import (
    LoadAlert,
    LoadSample,
    LoadSettings,
    LoadThreshold,
    MailSystemAlert,
    Metric,
)
from monitoring.status import StatusLine
from portal.dates import format_when

log = logging.getLogger(__name__)


# --- Raising and clearing -----------------------------------------------------------------


_UNSET = object()


def step(threshold: LoadThreshold, value: float | None, now: datetime, alert=_UNSET) -> str | None:
    """Move one metric's alert state on by one reading; return "raised", "cleared" or None.

    ``alert`` is the metric's open alert when the caller already has it (None: there is none).
    """
    if value is None:
        return None
    if alert is _UNSET:
        alert = LoadAlert.objects.filter(metric=threshold.metric, cleared_at__isnull=True).first()
    if not threshold.enabled:
        if alert is None:
            return None
        # Alerts for the metric were turned off: close the open one (no value: it did not come down).
        alert.cleared_at, alert.value_at_clear = now, None
        alert.save(update_fields=["cleared_at", "value_at_clear"])
        threshold.above_since = threshold.critical_since = None
        threshold.save(update_fields=["above_since", "critical_since"])
        emails.send_load_cleared(alert)
        return "cleared"
    before = (threshold.above_since, threshold.critical_since)
    event = None
    if value >= threshold.critical:
        threshold.critical_since = threshold.critical_since or now
    else:
        threshold.critical_since = None
    critical_long_enough = threshold.critical_since is not None and now - threshold.critical_since >= threshold.duration

    if alert is not None:
        alert.peak = max(alert.peak, value)
        if critical_long_enough:
            alert.level = "critical"
        if value <= threshold.clear:
            alert.cleared_at, alert.value_at_clear = now, value
            threshold.above_since = threshold.critical_since = None
            event = "cleared"
        if alert.is_bandwidth:
            alert.isp_report = isp_report(alert, now)
        alert.save()
        if event == "cleared":
            emails.send_load_cleared(alert)
    elif value >= threshold.warning:
        threshold.above_since = threshold.above_since or now
        if now - threshold.above_since >= threshold.duration:
            peak = LoadSample.objects.filter(taken_at__gte=threshold.above_since).aggregate(m=Max(threshold.metric))
            alert = LoadAlert(
                metric=threshold.metric,
                level="critical" if critical_long_enough else "warning",
                raised_at=now,
                above_since=threshold.above_since,
                warning_mark=threshold.warning,
                critical_mark=threshold.critical,
                clear_mark=threshold.clear,
                value_at_raise=value,
                peak=max(value, peak["m"] or value),
            )
            if alert.is_bandwidth:
                alert.isp_report = isp_report(alert, now)
            alert.save()
            emails.send_load_raised(alert)
            event = "raised"
    else:
        threshold.above_since = None
    if (threshold.above_since, threshold.critical_since) != before:
        threshold.save(update_fields=["above_since", "critical_since"])
    return event


def evaluate(sample: LoadSample) -> dict[str, str]:
    """Check every metric of a new sample against its thresholds."""
    events = {}
    with transaction.atomic():
        open_alerts = {a.metric: a for a in LoadAlert.objects.filter(cleared_at__isnull=True)}
        for threshold in LoadThreshold.ensure_defaults():
            value = sample.metric_value(threshold.metric)
            event = step(threshold, value, sample.taken_at, open_alerts.get(threshold.metric))
            if event:
                events[threshold.metric] = event
    return events


# --- The "report to your ISP" text ---------------------------------------------------------------


def _mbps(bits: float | None) -> str:
    return "unknown" if bits is None else f"{bits / 1_000_000:.1f} Mbit/s"


def busiest_ports(samples: list[dict], limit: int = 3) -> list[tuple[str, int, dict[str, int]]]:
    """The mail ports with the most connections (highest count seen at once) and their states then."""
    best: dict[str, tuple[int, dict[str, int]]] = {}
    for by_port in samples:
        for port, states in by_port.items():
            count = sum(n for state, n in states.items() if state != "LISTEN")
            if count and count > best.get(port, (0, {}))[0]:
                best[port] = (count, {s: n for s, n in states.items() if s != "LISTEN"})
    ranked = sorted(best.items(), key=lambda item: item[1][0], reverse=True)[:limit]
    return [(port, count, states) for port, (count, states) in ranked]


def isp_report(alert: LoadAlert, now: datetime) -> str:
    """A plain text IT staff can forward to the ISP: window, rates against the line, busiest mail ports."""
    line = LoadSettings.load()
    end = alert.cleared_at or now
    window = LoadSample.objects.filter(taken_at__gte=alert.above_since, taken_at__lte=end)
    figures = window.aggregate(
        in_avg=Avg("net_in"), in_max=Max("net_in"), out_avg=Avg("net_out"), out_max=Max("net_out")
    )
    ports = busiest_ports(list(window.values_list("connections_by_port", flat=True)))
    tz = timezone.get_current_timezone()
    lines = [
        f"Subject: High traffic on our line ({settings.ORGANISATION_NAME} mail server)",
        "",
        "Hello,",
        "",
        f"the {'upload' if alert.metric == Metric.NET_OUT else 'download'} on our mail server's internet line "
        f"was above {alert.warning_mark:.0f} % of its capacity",
        f"from {timezone.localtime(alert.above_since, tz):%Y-%m-%d %H:%M} "
        f"to {timezone.localtime(end, tz):%Y-%m-%d %H:%M} ({tz})"
        + ("" if alert.cleared_at else ", and still is at the time of writing")
        + ".",
        "",
        f"Download: average {_mbps(figures['in_avg'])}, peak {_mbps(figures['in_max'])} "
        f"of the contracted {line.line_download_mbps or '?'} Mbit/s",
        f"Upload:   average {_mbps(figures['out_avg'])}, peak {_mbps(figures['out_max'])} "
        f"of the contracted {line.line_upload_mbps or '?'} Mbit/s",
        "",
    ]
    if ports:
        lines.append("Mail ports with the most connections at once:")
        for port, count, states in ports:
            detail = ", ".join(f"{state} {n}" for state, n in sorted(states.items(), key=lambda s: -s[1]))
            name = "outgoing SMTP (to port 25)" if port == "25-out" else f"port {port}"
            lines.append(f"  {name}: {count} connections ({detail})")
        lines.append("")
    lines += [
        "This looks like spam or an attack reaching our server. Could you check the traffic",
        "on our line for this period and help us filter it?",
        "",
        "Thank you,",
        f"IT, {settings.ORGANISATION_NAME}",
    ]
    return "\n".join(lines)


# --- Status for the home page and the executive summary ---------------------------------------------


# What the executive summary says, per situation. A raised alert (load or mail system) has gone to IT by
# email and the alert channels when it was stored (see the module docstring); the rest IT sees on the page.
MAIL_DOWN = (
    "Mail is at risk: part of the mail system is not working, so mail may be delayed or refused. IT has been"
    " alerted and is on it."
)
# What each metric is to someone who does not run servers.
PLAIN_METRICS = {
    Metric.CPU: "the mail server's processor",
    Metric.LOAD: "the mail server's processor",
    Metric.MEMORY: "the mail server's memory",
    Metric.SWAP: "the mail server's memory",
    Metric.DISK: "the mail server's disk space",
    Metric.NET_IN: "the internet line",
    Metric.NET_OUT: "the internet line",
    Metric.QUEUE: "the queue of mail waiting to go out",
    Metric.DEFERRED_AGE: "the queue of mail waiting to go out",
}
OVERLOADED = "Mail may be delayed: {what} is overloaded. IT has been alerted and is dealing with it."
BUSY_ALERTED = "Mail is not at risk yet: {what} is under strain. IT has been alerted and is watching it."
BUSY = "Mail is not at risk: the mail server is busier than usual for a few minutes; IT is watching it."
QUEUE_UNREADABLE = (
    "We cannot tell whether mail is flowing: the server's mail queue cannot be read. IT can see this on the load page."
)
NO_SAMPLE = (
    "We cannot check the mail server's load at the moment: the background checks are not running. IT can"
    " see this on the load page."
)
NORMAL = "Mail is not at risk: the mail server is working normally."


def status_line() -> StatusLine:
    """ "Server load" in plain words, from stored rows (four queries): the worst of its parts.

    The mail system down (its queue unreadable, its master process gone, a mail-path service silent) is
    critical and comes first, whatever the load says; then load alerts, rising values, or "Normal".
    Never command output: executives read this line too.
    """
    line = partial(StatusLine, "Server load", url_name="serverload:dashboard", link_text="Load dashboard")
    down = list(MailSystemAlert.objects.filter(cleared_at__isnull=True).order_by("raised_at"))
    status, text, plain = _load_status()
    if not down:
        return line(status, text, plain=plain)
    parts = [f"{a.title} down since {timezone.localtime(a.raised_at):%H:%M} ({a.detail})" for a in down]
    also = "" if status == "ok" else f" Also: {text}"
    return line("critical", "; ".join(parts) + "." + also, plain=MAIL_DOWN)


def _load_status() -> tuple[str, str, str]:
    """(status, the technical sentence, the plain sentence)."""
    # The sample and the interval in one query (the status line is read on every home page).
    interval_of = Subquery(LoadSettings.objects.values("sample_interval_seconds")[:1])
    sample = LoadSample.objects.annotate(interval=interval_of).order_by("-taken_at").first()
    open_alerts = list(LoadAlert.objects.filter(cleared_at__isnull=True))
    interval = (sample.interval if sample else None) or 60
    if sample is None:
        return "unknown", "No load sample yet: the worker and beat must be running.", NO_SAMPLE
    if timezone.now() - sample.taken_at > timedelta(seconds=max(3 * interval, 300)):
        when = format_when(sample.taken_at)
        return "unknown", f"No load sample since {when}: is the worker running?", NO_SAMPLE
    if open_alerts:
        worst = max(open_alerts, key=lambda a: (a.level == "critical", a.peak))
        since = timezone.localtime(worst.above_since).strftime("%H:%M")
        others = f" and {len(open_alerts) - 1} more" if len(open_alerts) > 1 else ""
        text = f"{worst.get_metric_display()} above {worst.warning_mark:.0f}{_unit(worst.unit)} since {since}{others}."
        what = PLAIN_METRICS.get(worst.metric, "the mail server")
        plain = (OVERLOADED if worst.level == "critical" else BUSY_ALERTED).format(what=what)
        return worst.level, text, plain
    # Above a mark but not yet for long enough to raise an alert: not "normal", not an alert yet either.
    rising = list(LoadThreshold.objects.filter(enabled=True, above_since__isnull=False).order_by("above_since"))
    if rising:
        first = rising[0]
        since = timezone.localtime(first.above_since).strftime("%H:%M")
        text = (
            f"{first.get_metric_display()} above {first.warning:.0f}{_unit(first.unit)} since {since}; an alert "
            f"follows if it stays there for {first.duration_minutes} minutes."
        )
        return "warning", text, BUSY
    parts = [f"CPU {sample.cpu:.0f} %", f"memory {sample.memory:.0f} %", f"fullest disk {sample.disk:.0f} %"]
    if sample.net_in_pct is not None:
        parts.append(f"download {sample.net_in_pct:.0f} % of the line")
    if sample.queue_status == "error":
        # Not "normal": the queue is unknown (the mail system may be down, or not set up on this machine).
        return "warning", "The mail queue cannot be read: " + ", ".join(parts) + ".", QUEUE_UNREADABLE
    if sample.queue_status == "none":
        parts.append("no mail server found")
    elif sample.queue is not None:
        queued = f"{sample.queue} message{'s' if sample.queue != 1 else ''} in the mail queue"
        if sample.queue and sample.queue_oldest_age:
            queued += f" (oldest {age_words(sample.queue_oldest_age)})"
        parts.append(queued)
    return "ok", "Normal: " + ", ".join(parts) + ".", NORMAL


def _unit(unit: str) -> str:
    return " %" if unit == "%" else f" {unit}"


def age_words(seconds: float) -> str:
    """3 min, 5 h, 2 days: how long a message has waited, in words."""
    if seconds < 3600:
        return f"{max(seconds // 60, 1):.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
