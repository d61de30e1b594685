"""Sweeps: run the checker for the monitored addresses or a new-address check, and store what it found.

``tick()`` (every minute from beat) claims a due scheduled sweep; ``run_sweep()``
does the work (a task wraps it); transitions become ``ListingChange`` rows and
one alert per sweep (``dnsbl.emails``: email and alert channels, through the outbox)
tells IT staff what changed. The alert is stored in the same transaction as the sweep's
result, so a sweep that changed something is never without its alert.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from monitoring.dnsbl import emails
from monitoring.dnsbl.checker import (
    IPV6,
    BadInput,
    Finding,
    Report,
    ZoneSpec,
    check,
    count_lookups,
    expand_targets,
    normalise_address,
)
from monitoring.dnsbl.models import (
    DnsblResult,
    DnsblSchedule,
    DnsblSweep,
    DnsblZone,
    Health,
    ListingChange,
    MonitoredAddress,
    Status,
    SweepZoneHealth,
    usable_zones,
)
from monitoring.dnsbl.resolver import AAAA, ANSWER, MX, NODATA, NXDOMAIN, A, Resolver, ResolverConfig
from portal.outbox import publish

log = logging.getLogger(__name__)

MONITORING_KINDS = (DnsblSweep.Kind.SCHEDULED, DnsblSweep.Kind.MANUAL)
KEEP_RESULTS_OF = 50  # monitoring sweeps whose full results are kept; changes are kept for ever
STALE_AFTER = timedelta(minutes=30)  # a sweep not finished by then died with its worker (or never got one)
RESEND_AFTER = timedelta(minutes=2)  # a sweep still queued after this is handed to the broker again
# A running sweep shows progress every few seconds; one silent this long lost its worker (killed, or cut off
# from the database) and is handed to the broker again, for another worker to take over.
SILENT_AFTER = timedelta(minutes=3)
DEFINITE = (ANSWER, NXDOMAIN, NODATA)  # DNS outcomes that say something (not a timeout or SERVFAIL)


def active_sweep() -> DnsblSweep | None:
    return (
        DnsblSweep.objects.filter(kind__in=MONITORING_KINDS, state__in=[DnsblSweep.State.QUEUED, "running"])
        .filter(created_at__gte=timezone.now() - STALE_AFTER)
        .first()
    )


def last_sweep() -> DnsblSweep | None:
    return DnsblSweep.objects.filter(kind__in=MONITORING_KINDS, state=DnsblSweep.State.DONE).first()


def queue_sweep(kind: str, *, user=None, targets: list[str] | None = None, zone_ids: list[int] | None = None):
    """Create a queued sweep and hand it to the worker (after the transaction commits).

    ``sweep.handed_over`` says whether the broker took it (None until the transaction commits).
    """
    sweep = DnsblSweep.objects.create(kind=kind, requested_by=user, targets=targets or [], zone_ids=zone_ids or [])
    sweep.handed_over = None

    def send() -> None:
        sweep.handed_over = _send(sweep.pk)

    transaction.on_commit(send)
    return sweep


def _send(sweep_id: int) -> bool:
    from monitoring.dnsbl.tasks import run_dnsbl_sweep

    # Broker unreachable: the sweep stays "queued" (the page says so) and the tick sends it again.
    return publish(run_dnsbl_sweep, sweep_id)


class Superseded(Exception):
    """Another run took the sweep over while this one was silent: this run's findings are not stored."""


def _silent(now: datetime) -> Q:
    return Q(state=DnsblSweep.State.RUNNING) & (
        Q(progress_at__lt=now - SILENT_AFTER) | Q(progress_at__isnull=True, started_at__lt=now - SILENT_AFTER)
    )


def tick(now: datetime | None = None) -> DnsblSweep | None:
    """Called every minute: start the scheduled sweep when due; resend lost sweeps and those whose worker died."""
    now = now or timezone.now()
    recent = DnsblSweep.objects.filter(created_at__gte=now - STALE_AFTER)
    lost = recent.filter(Q(state=DnsblSweep.State.QUEUED, created_at__lt=now - RESEND_AFTER) | _silent(now))
    for sweep_id in lost.values_list("pk", flat=True):
        _send(sweep_id)  # a duplicate is harmless: run_sweep claims the sweep once
    DnsblSweep.objects.filter(
        state__in=[DnsblSweep.State.QUEUED, DnsblSweep.State.RUNNING], created_at__lt=now - STALE_AFTER
    ).update(state=DnsblSweep.State.FAILED, finished_at=now, error="no worker finished it within 30 minutes")
    schedule = DnsblSchedule.load()
    if not schedule.claim(now):
        return None
    if active_sweep() is not None:
        # A "check now" sweep is doing this run's work; two at once would both report the same changes.
        return None
    return queue_sweep(DnsblSweep.Kind.SCHEDULED)


def _claim(sweep_id: int) -> DnsblSweep | None:
    now = timezone.now()
    claimed = DnsblSweep.objects.filter(pk=sweep_id, state=DnsblSweep.State.QUEUED).update(
        state=DnsblSweep.State.RUNNING, started_at=now, progress_at=now
    )
    if not claimed:
        # A worker that died mid-sweep leaves it "running" and silent; a resent or redelivered task takes it
        # over. The new ``started_at`` is the run's token: the silent run, should it wake up, stores nothing.
        claimed = DnsblSweep.objects.filter(_silent(now), pk=sweep_id).update(started_at=now, progress_at=now)
    return DnsblSweep.objects.get(pk=sweep_id) if claimed else None


def _hold(sweep: DnsblSweep) -> None:
    """At the start of the transaction that stores a run's findings: lock the sweep, and make sure this run
    still holds it (``Superseded`` otherwise, which rolls the transaction back)."""
    held = DnsblSweep.objects.select_for_update().filter(
        pk=sweep.pk, state=DnsblSweep.State.RUNNING, started_at=sweep.started_at
    )
    if not held.exists():
        raise Superseded(sweep.pk)


def _hand_back(sweep: DnsblSweep, exc: DatabaseError) -> None:
    """The database failed mid-sweep (a restart, a cut connection): queue the sweep again for the next tick,
    on a fresh connection. With the database still away it stays "running" and is taken over once silent."""
    log.warning("DNSBL sweep %s lost the database (%s); it is queued again", sweep.pk, exc.__class__.__name__)
    if not connection.in_atomic_block:
        connection.close()
    try:
        DnsblSweep.objects.filter(pk=sweep.pk, state=DnsblSweep.State.RUNNING, started_at=sweep.started_at).update(
            state=DnsblSweep.State.QUEUED, done=0
        )
    except DatabaseError:
        log.warning("DNSBL sweep %s: the database is still away; the sweep is taken over once it is back", sweep.pk)


def run_sweep(sweep_id: int, config: ResolverConfig | None = None) -> DnsblSweep | None:
    sweep = _claim(sweep_id)
    if sweep is None:
        return None
    try:
        config = config or ResolverConfig.from_settings()
        if sweep.kind == DnsblSweep.Kind.CHECK:
            _run_check(sweep, config)
        else:
            _run_monitoring(sweep, config)
    except Superseded:
        log.warning("DNSBL sweep %s was taken over by another worker while this one was silent", sweep.pk)
        return None
    except DatabaseError as exc:
        _hand_back(sweep, exc)
        return None
    except Exception as exc:
        log.exception("DNSBL sweep %s failed", sweep.pk)
        DnsblSweep.objects.filter(pk=sweep.pk, started_at=sweep.started_at).update(
            state=DnsblSweep.State.FAILED, finished_at=timezone.now(), error=f"{exc.__class__.__name__}: {exc}"[:300]
        )
        sweep.refresh_from_db()
        return sweep
    sweep.refresh_from_db()
    return sweep


def _progress(sweep: DnsblSweep):
    def update(done: int) -> None:
        DnsblSweep.objects.filter(pk=sweep.pk, started_at=sweep.started_at).update(
            done=done, progress_at=timezone.now()
        )

    return update


def _touch(sweep: DnsblSweep) -> None:
    DnsblSweep.objects.filter(pk=sweep.pk, started_at=sweep.started_at).update(progress_at=timezone.now())


def _run_check(sweep: DnsblSweep, config: ResolverConfig) -> None:
    targets = expand_targets(sweep.targets, settings.DNSBL_MAX_ADDRESSES)
    zones = DnsblZone.objects.filter(pk__in=sweep.zone_ids) if sweep.zone_ids else usable_zones()
    specs = [ZoneSpec.from_zone(zone) for zone in zones]
    DnsblSweep.objects.filter(pk=sweep.pk).update(total=count_lookups(targets, specs))
    report = check(targets, specs, config, progress=_progress(sweep))
    with transaction.atomic():
        _hold(sweep)
        _store(sweep, report, {})
        DnsblSweep.objects.filter(pk=sweep.pk).update(state=DnsblSweep.State.DONE, finished_at=timezone.now())


def _checkable(
    monitored: dict[str, MonitoredAddress],
) -> tuple[dict[str, MonitoredAddress], dict[str, tuple[MonitoredAddress, str]]]:
    """The monitored values the checker can ask for, and why the others cannot be asked.

    A value stored before the forms refused it (a scoped IPv6 address such as ``fe80::1%eth0``) must not
    break every later sweep: it is reported as unknown with the reason, and the other addresses are swept.
    """
    usable, refused = {}, {}
    for value, address in monitored.items():
        if address.kind == MonitoredAddress.Kind.DOMAIN:
            usable[value] = address
            continue
        try:
            usable[normalise_address(value)] = address
        except BadInput as exc:
            refused[value] = (address, str(exc))
    return usable, refused


def _run_monitoring(sweep: DnsblSweep, config: ResolverConfig) -> None:
    monitored, refused = _checkable({m.value: m for m in MonitoredAddress.objects.filter(enabled=True)})
    zones = usable_zones()
    specs = [ZoneSpec.from_zone(zone) for zone in zones]
    targets = list(monitored)
    DnsblSweep.objects.filter(pk=sweep.pk).update(total=count_lookups(targets, specs))
    report = check(targets, specs, config, progress=_progress(sweep))
    for value, (address, reason) in refused.items():
        monitored[value] = address
        report.findings.extend(
            Finding(value, spec, Status.UNKNOWN, meaning=f"cannot be checked: {reason}"[:300])
            for spec in specs
            if spec.kind == "ip"
        )
    suggestions = {}
    for value, m in monitored.items():
        if m.kind == MonitoredAddress.Kind.DOMAIN:
            suggestions[value] = suggest_addresses(value, config)
            _touch(sweep)  # a few lookups each: progress too
    now = timezone.now()
    with transaction.atomic():
        _hold(sweep)
        previous = last_sweep()
        results = _store(sweep, report, monitored, previous)
        health_lines = _update_health(sweep, report, now)
        if not monitored:
            # Nothing is monitored yet: list health is on the dashboard, but worth no email to anyone.
            health_lines = []
        listing_lines = _record_transitions(sweep, results, previous, now)
        schedule = DnsblSchedule.load()
        schedule.resolver = report.resolver[:200]
        schedule.resolver_is_public = bool(report.public_resolvers)
        schedule.resolver_rewrites_nxdomain = report.rewrites_nxdomain
        schedule.save(update_fields=["resolver", "resolver_is_public", "resolver_rewrites_nxdomain"])
        for value, found in suggestions.items():
            if found is not None:
                MonitoredAddress.objects.filter(value=value).update(suggestions=found)
        lines = listing_lines + health_lines
        DnsblSweep.objects.filter(pk=sweep.pk).update(
            state=DnsblSweep.State.DONE, finished_at=timezone.now(), alert_text="\n".join(lines)
        )
        if lines:
            sweep.refresh_from_db()
            emails.send_sweep_alert(sweep, lines)
    _prune()


def _store(sweep: DnsblSweep, report: Report, monitored: dict, previous: DnsblSweep | None = None) -> list[DnsblResult]:
    SweepZoneHealth.objects.bulk_create(
        SweepZoneHealth(
            sweep=sweep,
            zone_id=z.spec.pk,
            zone_name=z.spec.zone,
            health=z.health,
            detail=z.detail[:300],
            ipv6=z.family == IPV6,
        )
        for z in report.zones
    )
    settled_before: dict[tuple, str] = {}
    if previous is not None:
        settled_before = {
            (r.monitored_id, r.zone_id): r.settled for r in previous.results.only("monitored_id", "zone_id", "settled")
        }
    rows = []
    for f in report.findings:
        owner = monitored.get(f.address)
        settled = f.status if f.status in (Status.LISTED, Status.CLEAN) else ""
        if not settled and owner is not None:
            settled = settled_before.get((owner.pk, f.spec.pk), "")
        rows.append(
            DnsblResult(
                sweep=sweep,
                monitored=owner,
                address=f.address,
                zone_id=f.spec.pk,
                zone_name=f.spec.zone,
                status=f.status,
                codes=f.codes,
                meaning=f.meaning[:300],
                txt=f.txt[:500],
                settled=settled,
            )
        )
    return DnsblResult.objects.bulk_create(rows)


def _update_health(sweep: DnsblSweep, report: Report, now: datetime) -> list[str]:
    """Store each list's health; a change becomes a ListingChange (address empty) and an alert line."""
    lines = []
    zones = DnsblZone.objects.in_bulk([z.spec.pk for z in report.zones if z.spec.pk])
    for judged in report.zones:
        zone = zones.get(judged.spec.pk)
        if zone is None:
            continue
        ipv6 = judged.family == IPV6
        before = zone.ipv6_health if ipv6 else zone.health
        if before != judged.health and not (before in (Health.UNCHECKED, "") and judged.health == Health.HEALTHY):
            ListingChange.objects.create(
                sweep=sweep,
                zone=zone,
                zone_name=zone.zone,
                previous=before,
                current=judged.health,
                meaning=judged.detail[:300],
                changed_at=now,
            )
            which = " for IPv6" if ipv6 else ""
            lines.append(f"{zone.name} ({zone.zone}){which}: {Health(judged.health).label.lower()} - {judged.detail}")
        if ipv6:
            zone.ipv6_health, zone.ipv6_health_detail = judged.health, judged.detail[:300]
            zone.save(update_fields=["ipv6_health", "ipv6_health_detail"])
        else:
            zone.health, zone.health_detail, zone.health_checked_at = judged.health, judged.detail[:300], now
            zone.save(update_fields=["health", "health_detail", "health_checked_at"])
    return lines


def _record_transitions(
    sweep: DnsblSweep, results: list[DnsblResult], previous: DnsblSweep | None, now: datetime
) -> list[str]:
    before: dict[tuple, DnsblResult] = {}
    if previous is not None:
        before = {(r.monitored_id, r.zone_id): r for r in previous.results.all()}
    changes, lines = [], []
    for result in results:
        if result.monitored is None:
            continue
        old = before.get((result.monitored_id, result.zone_id))
        old_status = old.status if old else ""
        if old_status != result.status and (old or result.status == Status.LISTED):
            changes.append(
                ListingChange(
                    sweep=sweep,
                    monitored=result.monitored,
                    address=result.address,
                    zone_id=result.zone_id,
                    zone_name=result.zone_name,
                    previous=old_status,
                    current=result.status,
                    codes=result.codes,
                    meaning=result.meaning,
                    txt=result.txt,
                    changed_at=now,
                )
            )
        # Alerts follow the settled state, so listed -> unknown -> listed does not alert twice.
        old_settled = old.settled if old else ""
        if result.settled == Status.LISTED and old_settled != Status.LISTED:
            reason = f" - {result.txt}" if result.txt else ""
            lines.append(f"LISTED: {result.address} on {result.zone_name}: {result.meaning}{reason}")
        elif result.settled == Status.CLEAN and old_settled == Status.LISTED:
            lines.append(f"delisted: {result.address} is no longer on {result.zone_name}")
    ListingChange.objects.bulk_create(changes)
    return lines


def _prune() -> None:
    keep = list(DnsblSweep.objects.filter(kind__in=MONITORING_KINDS).values_list("pk", flat=True)[:KEEP_RESULTS_OF])
    DnsblResult.objects.filter(sweep__kind__in=MONITORING_KINDS).exclude(sweep_id__in=keep).delete()


# --- Address suggestions from a domain's MX and A/AAAA records ---------------------------------------


def suggest_addresses(domain: str, config: ResolverConfig) -> list[dict] | None:
    """The addresses a domain's mail goes to (MX hosts, or the domain itself): candidates to monitor.

    None when the lookup failed (the previous suggestions are kept).
    """

    async def run() -> list[dict] | None:
        resolver = Resolver(config)
        try:
            mx = await resolver.query(f"{domain}.", MX)
            if mx.outcome not in DEFINITE:
                return None  # a timeout or SERVFAIL says nothing about the domain: keep what we knew
            hosts = [r.split()[-1].rstrip(".") for r in mx.records] if mx.outcome == ANSWER else [domain]
            found: list[dict] = []
            failed = False
            for host in hosts:
                for rdtype in (A, AAAA):
                    answer = await resolver.query(f"{host}.", rdtype)
                    failed = failed or answer.outcome not in DEFINITE
                    if answer.outcome == ANSWER:
                        found.extend({"address": address, "host": host} for address in answer.records)
            return None if failed and not found else found
        finally:
            await resolver.close()

    # Its own thread and event loop: the caller may already run one (like check()).
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            return pool.submit(asyncio.run, run()).result()
        except (OSError, ValueError):
            log.warning("DNSBL: could not look up the mail records of %s", domain, exc_info=True)
            return None


__all__ = [
    "active_sweep",
    "last_sweep",
    "queue_sweep",
    "run_sweep",
    "suggest_addresses",
    "tick",
    "usable_zones",
]
