"""DNS block list models (zones, monitored addresses, sweeps, results, listing changes).

The catalogue of lists is data (``DnsblZone``, loaded by a migration and edited
by IT staff). A ``DnsblSweep`` is one run of the checker: a scheduled or
"check now" sweep of the monitored addresses, or an ad-hoc check of a new
address or range. Its results are ``DnsblResult`` rows; list health per sweep
is ``SweepZoneHealth``; every change of state is a ``ListingChange``.

The tables keep the names they had when monitoring was one app (``monitoring_*``, set with
``Meta.db_table``): see ``migrations/0001_initial.py`` for why they were not renamed.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.singletons import Singleton

__all__ = [
    "DnsblResult",
    "DnsblSchedule",
    "DnsblSweep",
    "DnsblZone",
    "Health",
    "ListingChange",
    "MonitoredAddress",
    "Status",
    "SweepZoneHealth",
    "usable_zones",
]


class Health(models.TextChoices):
    """RFC 5782 list health, decided once per sweep from the test entries."""

    HEALTHY = "healthy", "Healthy"
    LISTS_EVERYTHING = "lists-everything", "Lists everything"
    NOT_LISTING_TEST_ENTRY = "not-listing-test-entry", "Not listing its test entry"
    REFUSED = "refused", "Refusing our queries"
    UNREACHABLE = "unreachable", "Unreachable"
    UNCHECKED = "unchecked", "Not checked yet"


class Status(models.TextChoices):
    """The answer for one address on one list. An error is never ``clean``."""

    LISTED = "listed", "Listed"
    CLEAN = "clean", "Clean"
    REFUSED = "refused", "Refused"
    UNKNOWN = "unknown", "Unknown"
    IGNORED = "ignored", "Ignored"


# One symbol per answer in the addresses x lists table, each different in shape (not only in colour), with
# the words beside it for screen readers and in the legend.
SYMBOLS = {
    Status.LISTED: "\u2716",  # heavy multiplication x
    Status.CLEAN: "\u2714",  # heavy check mark
    Status.REFUSED: "\u2298",  # circled division slash (in the common fonts, unlike the no-entry sign)
    Status.UNKNOWN: "?",
    Status.IGNORED: "\u25cb",  # white circle
    "none": "\u2014",  # em dash: not asked
}


class DnsblZone(models.Model):
    """One DNS block list of the catalogue, with its own code meanings and refusal codes."""

    class Kind(models.TextChoices):
        IP = "ip", "IP addresses"
        DOMAIN = "domain", "Domain names"

    name = models.CharField(max_length=100)
    zone = models.CharField(max_length=253, unique=True, help_text="The DNS zone queried, e.g. zen.spamhaus.org")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.IP)
    ipv6 = models.BooleanField("IPv6 support", default=False)
    # {"127.0.0.2": "meaning", ...}; with ``bitmask`` the keys are last-octet bits ("2", "4", ...).
    codes = models.JSONField(default=dict, blank=True)
    bitmask = models.BooleanField(default=False, help_text="The last octet is a sum of bits, one per sub-list")
    refusal_codes = models.JSONField(default=list, blank=True, help_text="Answers that mean 'query refused'")
    refusal_advice = models.TextField(blank=True, help_text="What to do when the list refuses our queries")
    delisting_url = models.URLField(blank=True)
    needs_registration = models.BooleanField(default=False)
    needs_key = models.BooleanField(default=False, help_text="Queries go to KEY.zone (Spamhaus DQS, Abusix)")
    # An access key is a credential: it never appears in logs, audit details or e-mails.
    key = models.CharField(max_length=100, blank=True)
    notes = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=100)
    health = models.CharField(max_length=30, choices=Health.choices, default=Health.UNCHECKED)
    health_detail = models.CharField(max_length=300, blank=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    # For IPv6 lookups an IPv6 list is judged by RFC 5782's IPv6 test entries (::FFFF:7F00:2 listed,
    # ::FFFF:7F00:1 not): a list may pass for IPv4 and fail for IPv6. Checked when IPv6 addresses are swept.
    ipv6_health = models.CharField(
        "IPv6 health", max_length=30, choices=Health.choices, default=Health.UNCHECKED, blank=True
    )
    ipv6_health_detail = models.CharField(max_length=300, blank=True)

    class Meta:
        db_table = "monitoring_dnsblzone"
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.zone})"

    @property
    def query_zone(self) -> str:
        return f"{self.key}.{self.zone}" if self.needs_key and self.key else self.zone

    @property
    def usable(self) -> bool:
        return self.enabled and (self.key != "" or not self.needs_key)

    def meaning(self, codes: list[str]) -> str:
        """Plain words for the answer codes, using this list's own table."""
        return describe_codes(codes, self.codes, bitmask=self.bitmask)


def usable_zones() -> list[DnsblZone]:
    """The enabled lists that can be asked (a list that needs a key has one)."""
    return [zone for zone in DnsblZone.objects.filter(enabled=True) if zone.usable]


def describe_codes(codes: list[str], table: dict[str, str], *, bitmask: bool = False) -> str:
    words: list[str] = []
    for code in codes:
        if bitmask:
            last = int(code.rsplit(".", 1)[-1])
            parts = [meaning for bit, meaning in table.items() if bit.isdigit() and last & int(bit)]
            words.append(", ".join(parts) if parts else f"listed ({code})")
        else:
            words.append(table.get(code, f"listed ({code})"))
    return "; ".join(dict.fromkeys(words))


class MonitoredAddress(models.Model):
    """One of the mail server's sending addresses or one of the company's mail domains."""

    class Kind(models.TextChoices):
        IPV4 = "ipv4", "IPv4 address"
        IPV6 = "ipv6", "IPv6 address"
        DOMAIN = "domain", "Domain"

    value = models.CharField(max_length=253, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    label = models.CharField(max_length=100, blank=True)
    enabled = models.BooleanField(default=True)
    # For domains: addresses found in its MX and A/AAAA records by the last sweep.
    suggestions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "monitoring_monitoredaddress"
        ordering = ["kind", "value"]
        verbose_name_plural = "monitored addresses"

    def __str__(self) -> str:
        return self.value

    def save(self, *args, **kwargs) -> None:
        self.kind = self.kind_of(self.value)
        super().save(*args, **kwargs)

    @staticmethod
    def kind_of(value: str) -> str:
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            return MonitoredAddress.Kind.DOMAIN
        return MonitoredAddress.Kind.IPV4 if ip.version == 4 else MonitoredAddress.Kind.IPV6

    def new_suggestions(self, known: set[str] | None = None) -> list[dict]:
        """Suggested addresses not monitored yet (``known``: the monitored values, if already loaded)."""
        if known is None:
            known = set(MonitoredAddress.objects.values_list("value", flat=True))
        return [s for s in self.suggestions if s["address"] not in known]


class DnsblSchedule(Singleton):
    """The one row saying how often the monitored addresses are swept (edited in the portal)."""

    interval_minutes = models.PositiveIntegerField(default=30)
    next_run_at = models.DateTimeField(default=timezone.now)
    # What the last sweep learnt about the resolver (shown as warnings on the dashboard).
    resolver = models.CharField(max_length=200, blank=True)
    resolver_is_public = models.BooleanField(default=False)
    resolver_rewrites_nxdomain = models.BooleanField(default=False)

    class Meta:
        db_table = "monitoring_dnsblschedule"

    def __str__(self) -> str:
        return f"every {self.interval_minutes} min"

    def claim(self, now: datetime) -> bool:
        """Take this run: only one tick wins, even with two beats or a redelivered task."""
        if self.next_run_at > now:
            return False
        following = now + timedelta(minutes=self.interval_minutes)
        won = DnsblSchedule.objects.filter(pk=self.pk, next_run_at=self.next_run_at).update(next_run_at=following)
        if won:
            self.next_run_at = following
        return bool(won)


class DnsblSweep(models.Model):
    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled sweep"
        MANUAL = "manual", "Check now"
        CHECK = "check", "New address check"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # For checks: the addresses/networks as typed, and the chosen zones (empty: every usable zone).
    targets = models.JSONField(default=list, blank=True)
    zone_ids = models.JSONField(default=list, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # When the run holding it last showed progress (its claim, then every batch of answers): a run silent for
    # a few minutes lost its worker, and the sweep is taken over (``sweep.SILENT_AFTER``).
    progress_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    # What the one alert e-mail of this sweep says (empty: nothing changed, no e-mail).
    alert_text = models.TextField(blank=True)

    class Meta:
        db_table = "monitoring_dnsblsweep"
        ordering = ["-created_at", "-pk"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def percent(self) -> int:
        if self.is_finished:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class SweepZoneHealth(models.Model):
    sweep = models.ForeignKey(DnsblSweep, on_delete=models.CASCADE, related_name="zone_health")
    zone = models.ForeignKey(DnsblZone, null=True, on_delete=models.SET_NULL)
    zone_name = models.CharField(max_length=253)
    health = models.CharField(max_length=30, choices=Health.choices)
    detail = models.CharField(max_length=300, blank=True)
    ipv6 = models.BooleanField(default=False, help_text="Judged by the IPv6 test entries (for IPv6 lookups)")

    class Meta:
        db_table = "monitoring_sweepzonehealth"
        ordering = ["zone_name", "ipv6"]

    def __str__(self) -> str:
        return f"{self.zone_name}: {self.health}"


class DnsblResult(models.Model):
    """One address on one list, as one sweep found it."""

    sweep = models.ForeignKey(DnsblSweep, on_delete=models.CASCADE, related_name="results")
    monitored = models.ForeignKey(MonitoredAddress, null=True, blank=True, on_delete=models.CASCADE)
    address = models.CharField(max_length=253)
    zone = models.ForeignKey(DnsblZone, null=True, on_delete=models.SET_NULL)
    zone_name = models.CharField(max_length=253)
    status = models.CharField(max_length=10, choices=Status.choices)
    codes = models.JSONField(default=list, blank=True)
    meaning = models.CharField(max_length=300, blank=True)
    txt = models.CharField(max_length=500, blank=True)
    # The last listed/clean answer up to this sweep: an "unknown" between two
    # "listed" answers is not a delisting, so it must not alert twice.
    settled = models.CharField(max_length=10, blank=True)

    class Meta:
        db_table = "monitoring_dnsblresult"
        ordering = ["address", "zone_name"]
        indexes = [models.Index(fields=["sweep", "status"])]

    def __str__(self) -> str:
        return f"{self.address} on {self.zone_name}: {self.status}"

    @property
    def symbol(self) -> str:
        return SYMBOLS.get(self.status, "?")


class ListingChange(models.Model):
    """A transition: an address's status on a list, or a list's health (``address`` empty)."""

    sweep = models.ForeignKey(DnsblSweep, null=True, on_delete=models.SET_NULL)
    monitored = models.ForeignKey(MonitoredAddress, null=True, blank=True, on_delete=models.CASCADE)
    address = models.CharField(max_length=253, blank=True)
    zone = models.ForeignKey(DnsblZone, null=True, on_delete=models.SET_NULL)
    zone_name = models.CharField(max_length=253)
    previous = models.CharField(max_length=30, blank=True)
    current = models.CharField(max_length=30)
    codes = models.JSONField(default=list, blank=True)
    meaning = models.CharField(max_length=300, blank=True)
    txt = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "monitoring_listingchange"
        ordering = ["-changed_at", "-pk"]
        indexes = [models.Index(fields=["monitored", "zone", "changed_at"])]

    def __str__(self) -> str:
        return f"{self.address or 'health'} on {self.zone_name}: {self.previous or '-'} -> {self.current}"
