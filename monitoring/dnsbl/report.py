"""What the DNSBL pages show, read from stored rows only (a constant number of queries, no DNS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.formats import date_format

from monitoring.dnsbl.diagnosis import diagnose
from monitoring.dnsbl.models import (
    SYMBOLS,
    DnsblResult,
    DnsblSchedule,
    DnsblSweep,
    DnsblZone,
    Health,
    ListingChange,
    MonitoredAddress,
    Status,
)
from monitoring.dnsbl.sweep import active_sweep, last_sweep
from monitoring.status import StatusLine
from portal.lastrun import LastRun, installed_at

LEGEND = [
    (status, SYMBOLS[status], label, words)
    for status, label, words in [
        (Status.LISTED, "Listed", "the list names this address; see the reason and the delisting link"),
        (Status.CLEAN, "Clean", "the list answered 'not listed' (NXDOMAIN)"),
        (Status.REFUSED, "Refused", "the list refused our query (e.g. public resolver): not a listing"),
        (Status.UNKNOWN, "Unknown", "no usable answer (timeout, SERVFAIL, rewritten answer): not clean"),
        (Status.IGNORED, "Ignored", "the list failed its RFC 5782 health check; its answers are ignored"),
        ("none", "Not asked", "the list does not take this kind of address (IPv6, domain)"),
    ]
]


UNSETTLED = (Status.UNKNOWN, Status.REFUSED, Status.IGNORED)


@dataclass
class Listing:
    """One period during which an address was listed on a list."""

    address: str
    zone_name: str
    started: datetime
    ended: datetime | None
    meaning: str = ""
    txt: str = ""
    zone: DnsblZone | None = None
    monitored_id: int | None = None

    @property
    def duration(self) -> timedelta:
        return (self.ended or timezone.now()) - self.started


@dataclass
class Summary:
    status: str  # ok | warning | critical | unknown
    text: str  # for IT staff: which lists, why, what to change
    working: int = 0
    listed_on: list[str] = field(default_factory=list)
    plain: str = ""  # for executives: is mail at risk, and what IT is doing


# What the executive summary says, per situation (IT is alerted of a new listing and of a list's health
# changing by the sweep's alert, monitoring/dnsbl/sweep.py).
NOT_SWEPT = "The block lists have not been checked yet; the first check runs within minutes of the portal starting."
NOTHING_MONITORED = "Nothing is checked against the block lists yet: IT has not added the mail server's addresses."
CANNOT_CHECK = "We cannot check the block lists at the moment; IT has been told and is on it."
CLEAN = "Mail is not at risk: our mail server is on none of the {n} block lists we check."
PARTLY_CHECKED = (
    "Mail is not at risk as far as we can tell: our mail server is on none of the {n} block lists that answered;"
    " a few lists could not be checked and IT is looking into it."
)
LISTED = (
    "Some of our mail may be refused: our mail server is on {lists}. IT has been alerted and is asking for it"
    " to be removed."
)


def _listed_words(names: list[str]) -> str:
    if len(names) == 1:
        return f"the {names[0]} block list"
    return f"{len(names)} block lists ({', '.join(names)})"


def summarise(sweep: DnsblSweep | None, zones: list[DnsblZone], results: list[DnsblResult], since) -> Summary:
    if sweep is None:
        return Summary("unknown", "No sweep has run yet.", plain=NOT_SWEPT)
    if sweep.total == 0:
        text = "The last sweep checked nothing: no address or domain is monitored, or no list fits."
        return Summary("unknown", text, plain=NOTHING_MONITORED)
    working = [z for z in zones if z.enabled and z.health == Health.HEALTHY]
    unhealthy = [z for z in zones if z.enabled and z.health not in (Health.HEALTHY, Health.UNCHECKED)]
    if not working:
        return Summary("unknown", _nothing_checked(unhealthy), plain=CANNOT_CHECK)
    names = {z.zone for z in working}
    listed = sorted({r.zone_name for r in results if r.status == Status.LISTED and r.zone_name in names})
    # A working list is clean only when it answered "not listed" for everything; an IPv6 address it ignored
    # (the list fails RFC 5782's IPv6 test entries) is not clean either.
    doubtful = {r.zone_name for r in results if r.status in UNSETTLED} & names - set(listed)
    clean_on = len(working) - len(listed) - len(doubtful)  # a list without a usable answer is not clean
    text = f"Clean on {clean_on} of {len(working)} working lists"
    if listed:
        when = f" since {_when(since)}" if since else ""
        plain = LISTED.format(lists=_listed_words(listed))
        return Summary("critical", f"{text}; listed on {', '.join(listed)}{when}.", len(working), listed, plain)
    if doubtful:
        text += f"; {len(doubtful)} gave no usable answer (timeout or refusal)"
    if unhealthy:
        text += f"; {_count(len(unhealthy), 'list is', 'lists are')} not working ({_by_health(unhealthy)})"
    if doubtful or unhealthy:
        return Summary("warning", f"{text}.", len(working), plain=PARTLY_CHECKED.format(n=clean_on))
    return Summary("ok", f"{text}.", len(working), plain=CLEAN.format(n=len(working)))


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _health_counts(zones: list[DnsblZone]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for zone in zones:
        counts[zone.health] = counts.get(zone.health, 0) + 1
    return counts


def _by_health(zones: list[DnsblZone]) -> str:
    counts = _health_counts(zones)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{n} {health}" for health, n in counts.items())


def _nothing_checked(unhealthy: list[DnsblZone]) -> str:
    """The summary when no list works: say why, and what to do about it."""
    if not unhealthy:
        return "No list could be checked: no list has passed its health check yet."
    which = "the only list" if len(unhealthy) == 1 else f"all {len(unhealthy)} lists"
    if all(z.health == Health.UNREACHABLE for z in unhealthy):
        return (
            f"No list could be checked: {which} {'is' if len(unhealthy) == 1 else 'are'} unreachable from this"
            " server's resolver — check DNSBL_NAMESERVERS and the network."
        )
    if len(unhealthy) > 1 and all(z.health == Health.NOT_LISTING_TEST_ENTRY for z in unhealthy):
        # Every list "not listing" its test entry is the resolver answering NXDOMAIN for everything.
        return (
            f"No list could be checked: {which} answer 'not listed' even for their test entries, so this server's"
            " resolver probably cannot reach them — check DNSBL_NAMESERVERS and the network."
        )
    counts = _health_counts(unhealthy)
    blind = (Health.UNREACHABLE, Health.NOT_LISTING_TEST_ENTRY)
    if len(unhealthy) > 1 and all(z.health in blind for z in unhealthy):
        # Some silent, the others "not listing" their test entries: the same resolver that cannot get out.
        return (
            f"No list could be checked: {counts[Health.NOT_LISTING_TEST_ENTRY]} answer 'not listed' even for their"
            f" test entries and {counts[Health.UNREACHABLE]} do not answer, so this server's resolver probably"
            " cannot reach them — check DNSBL_NAMESERVERS and the network."
        )
    words = {
        Health.REFUSED: "refuse our queries",
        Health.UNREACHABLE: "unreachable",
        Health.NOT_LISTING_TEST_ENTRY: "not listing their test entry",
    }
    parts = [f"{n} {words.get(health, health)}" for health, n in counts.items()]
    advice = (
        " — use a local recursive resolver (DNSBL_NAMESERVERS) or register; see the list health table."
        if Health.REFUSED in counts
        else " — see the list health table."
    )
    return f"No list could be checked: {', '.join(parts)}{advice}"


def _when(moment: datetime) -> str:
    """10:42 today, else 26 Nov 10:42."""
    local = timezone.localtime(moment)
    same_day = local.date() == timezone.localdate()
    return date_format(local, "H:i" if same_day else "j M H:i")


def listing_periods(changes: list[ListingChange]) -> list[Listing]:
    """Turn transitions (oldest first) into listed periods; 'unknown' in between does not end one."""
    open_periods: dict[tuple, Listing] = {}
    periods: list[Listing] = []
    for change in changes:
        key = (change.monitored_id, change.zone_id)
        if change.current == Status.LISTED and key not in open_periods:
            period = Listing(change.address, change.zone_name, change.changed_at, None, change.meaning, change.txt)
            period.zone, period.monitored_id = change.zone, change.monitored_id
            open_periods[key] = period
            periods.append(period)
        elif change.current == Status.CLEAN and key in open_periods:
            open_periods.pop(key).ended = change.changed_at
    return periods


def dashboard(user_can_manage: bool) -> dict:
    sweep = last_sweep()
    zones = list(DnsblZone.objects.all())
    addresses = list(MonitoredAddress.objects.filter(enabled=True))
    known = set(MonitoredAddress.objects.values_list("value", flat=True))
    # Only addresses still monitored: a paused or removed address's last results and listings are not "now".
    results = list(sweep.results.filter(monitored__enabled=True).select_related("zone")) if sweep else []
    cells = {(r.monitored_id, r.zone_id): r for r in results}
    changes = list(ListingChange.objects.exclude(address="").select_related("zone").order_by("changed_at", "pk")[:5000])
    periods = listing_periods(changes)
    watched = {address.pk for address in addresses}
    current = [p for p in periods if p.ended is None and p.monitored_id in watched]
    summary = summarise(sweep, zones, results, min((p.started for p in current), default=None))
    matrix_zones = [z for z in zones if z.enabled]
    rows = []
    for address in addresses:
        row_cells = [(zone, cells.get((address.pk, zone.pk))) for zone in matrix_zones]
        asked = [result for _, result in row_cells if result is not None]
        # "Checked on X of Y lists": Y lists take this kind of address, X gave an answer to rely on.
        checked = sum(1 for result in asked if result.status in (Status.LISTED, Status.CLEAN))
        rows.append({"address": address, "cells": row_cells, "checked": checked, "asked": len(asked)})
    schedule = DnsblSchedule.load()
    return {
        "sweep": sweep,
        "active": active_sweep(),
        "summary": summary,
        "zones": zones,
        "matrix_zones": matrix_zones,
        "rows": rows,
        "legend": LEGEND,
        "current_listings": current,
        "past_listings": [p for p in reversed(periods) if p.ended is not None][:20],
        "health_changes": ListingChange.objects.filter(address="")[:10],
        "schedule": schedule,
        "diagnosis": diagnose(zones, schedule),
        # Grace: a sweep of many lists takes minutes, and a lost one is handed over again after 2.
        "last_run": LastRun(
            "Last sweep",
            sweep.finished_at if sweep else None,
            timedelta(minutes=schedule.interval_minutes),
            grace=timedelta(minutes=10),
            since=installed_at("dnsbl"),
        ),
        "suggestions": [(a, found) for a in addresses if (found := a.new_suggestions(known))],
        "can_manage": user_can_manage,
    }


def timeline(address: MonitoredAddress, days: int = 30, width: int = 720) -> dict:
    """An SVG-ready timeline: one row per list the address has been listed on, bars for listed periods."""
    now = timezone.now()
    start = now - timedelta(days=days)
    changes = list(ListingChange.objects.filter(monitored=address).select_related("zone").order_by("changed_at", "pk"))
    periods = listing_periods(changes)
    names = sorted({p.zone_name for p in periods})
    span = (now - start).total_seconds()
    rows = []
    for index, name in enumerate(names):
        bars = []
        for p in (p for p in periods if p.zone_name == name):
            begin = max(p.started, start)
            end = p.ended or now
            if end < start:
                continue
            x = (begin - start).total_seconds() / span * width
            w = max(2.0, (end - begin).total_seconds() / span * width)
            bars.append({"x": round(x, 1), "w": round(w, 1), "period": p})
        rows.append({"name": name, "y": index * 22, "bars": bars})
    ticks = [
        {"x": round(d / days * width, 1), "label": date_format(start + timedelta(days=d), "j M")}
        for d in range(0, days + 1, 5)
    ]
    return {
        "rows": rows,
        "width": width,
        "height": max(22, len(rows) * 22),
        "ticks": ticks,
        "periods": list(reversed(periods)),
        "changes": list(reversed(changes))[:50],
    }


@dataclass
class ListGroup:
    """One list's part of a new-address check: its health and every answer it gave."""

    zone_name: str
    health: list = field(default_factory=list)  # SweepZoneHealth rows (IPv4 / domain, and IPv6)
    results: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.counts.get(Status.LISTED):
            return Status.LISTED
        if self.results and self.counts.get(Status.CLEAN) == len(self.results):
            return Status.CLEAN
        return "unchecked"


@dataclass
class CheckVerdict:
    status: str  # listed | clean | unknown
    label: str  # the status word
    text: str  # the sentence that opens the result
    listed: list = field(default_factory=list)
    groups: list[ListGroup] = field(default_factory=list)


def check_verdict(sweep: DnsblSweep, targets: list[str]) -> CheckVerdict:
    """What a new-address check found, verdict first ("Listed: ...", "Clean on 15 of 17 lists",
    "Could not check: no list answered"), then one group per list. A refusal, a timeout or a list that
    failed its health check is never counted as clean (``checker.unchecked``)."""
    from monitoring.dnsbl.checker import unchecked

    results = list(sweep.results.select_related("zone"))
    groups: dict[str, ListGroup] = {}
    for health in sweep.zone_health.all():
        groups.setdefault(health.zone_name, ListGroup(health.zone_name)).health.append(health)
    for result in results:
        group = groups.setdefault(result.zone_name, ListGroup(result.zone_name))
        group.results.append(result)
        group.counts[result.status] = group.counts.get(result.status, 0) + 1
    ordered = sorted(groups.values(), key=lambda g: ({Status.LISTED: 0, "unchecked": 1}.get(g.verdict, 2), g.zone_name))
    listed = [r for r in results if r.status == Status.LISTED]
    clean_lists = sum(1 for g in ordered if g.verdict == Status.CLEAN)
    missing = unchecked(targets, results)
    if listed:
        shown = "; ".join(f"{r.address} on {r.zone_name}" for r in listed[:5])
        more = f" and {len(listed) - 5} more" if len(listed) > 5 else ""
        return CheckVerdict("listed", "Listed", f"Listed: {shown}{more}.", listed, ordered)
    if not any(r.status == Status.CLEAN for r in results):
        reason = f" ({missing})" if missing else ""
        return CheckVerdict("unknown", "Not fully checked", f"Could not check: no list answered{reason}.", [], ordered)
    text = f"Clean on {clean_lists} of {len(ordered)} list{'s' if len(ordered) != 1 else ''}"
    if missing:
        return CheckVerdict("unknown", "Not fully checked", f"{text}; not clean: {missing}.", [], ordered)
    return CheckVerdict("clean", "Clean", f"{text}.", [], ordered)


def status_line() -> StatusLine:
    """The executive summary's line for the block lists (three queries)."""
    sweep = last_sweep()
    zones = list(DnsblZone.objects.filter(enabled=True))
    results = (
        list(sweep.results.filter(status__in=[Status.LISTED, *UNSETTLED], monitored__enabled=True)) if sweep else []
    )
    since = None
    listed = {(r.address, r.zone_name) for r in results if r.status == Status.LISTED}
    if listed:
        # As on the dashboard: when the earliest listing that is still current began.
        changes = ListingChange.objects.filter(address__in={address for address, _ in listed})
        periods = listing_periods(list(changes.select_related("zone").order_by("changed_at", "pk")))
        since = min(
            (p.started for p in periods if p.ended is None and (p.address, p.zone_name) in listed), default=None
        )
    summary = summarise(sweep, zones, results, since)
    return StatusLine(
        "DNS block lists", summary.status, summary.text, "dnsbl:dashboard", "Block list dashboard", summary.plain
    )
