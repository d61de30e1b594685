"""Check addresses or ranges against the DNS block lists before accepting them from the ISP.

    python manage.py dnsbl_check 192.0.2.10 198.51.100.0/28 [--zones zen.spamhaus.org,bl.spamcop.net] [--json]

Exit status, what a script needs:

0  every (address, list) pair got a definite answer and none is listed;
1  listed on a healthy list (whatever else happened);
2  bad input (not an address, a network over /24 or /120, a scoped IPv6 address, more than
   DNSBL_MAX_ADDRESSES addresses, a bad zone name);
3  not listed, but something was not checked: a list refused the query, did not answer, or failed its
   health check (ignored), or nothing could be asked at all - even when other lists answered.

It imports only what a check needs (no sweep, e-mail or page code), so that it starts quickly.
"""

from __future__ import annotations

import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from monitoring.dnsbl.checker import BadInput, Finding, ZoneSpec, check, expand_targets
from monitoring.dnsbl.models import DnsblZone, Status, usable_zones
from monitoring.dnsbl.resolver import printable

EXIT_CLEAN, EXIT_LISTED, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3


class Command(BaseCommand):
    help = "Check IP addresses or networks (up to /24, IPv6 up to /120) against the DNS block lists."
    requires_system_checks: list[str] = []  # set up with the block lists' app only (standalone.py)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("targets", nargs="+", metavar="ADDRESS_OR_NETWORK")
        parser.add_argument("--zones", default="", help="comma-separated zones (default: the catalogue's)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, **options) -> None:
        try:
            targets = expand_targets(options["targets"], settings.DNSBL_MAX_ADDRESSES)
            specs = self.zone_specs(options["zones"])
        except BadInput as exc:
            self.stderr.write(f"dnsbl_check: {exc}")
            sys.exit(EXIT_BAD_INPUT)
        try:
            report = check(targets, specs)
        except (ValueError, OSError) as exc:
            # Exit 1 would read as "listed" and 0 as "clean": neither is true when nothing could be asked.
            self.stderr.write(f"dnsbl_check: could not check: {exc.__class__.__name__}: {exc}")
            sys.exit(EXIT_INCOMPLETE)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), indent=2))
        else:
            self.print_report(report)
        if report.listed_on_healthy_list:
            sys.exit(EXIT_LISTED)
        unchecked = report.unchecked(targets)
        if unchecked:
            # "Nothing listed" is not clean while any (address, list) pair was refused, unanswered or ignored.
            self.stderr.write(f"dnsbl_check: not fully checked: {unchecked}")
            sys.exit(EXIT_INCOMPLETE)
        sys.exit(EXIT_CLEAN)

    def zone_specs(self, raw: str) -> list[ZoneSpec]:
        if not raw.strip():
            zones = usable_zones()
            if not zones:
                raise BadInput("no usable zone in the catalogue; name zones with --zones")
            return [ZoneSpec.from_zone(zone) for zone in zones]
        names = [name for name in raw.split(",") if name.strip()]
        if not names:
            raise BadInput(f"--zones {raw!r} names no zone (e.g. --zones zen.spamhaus.org,bl.spamcop.net)")
        known = {zone.zone: zone for zone in DnsblZone.objects.filter(zone__in=[n.strip().lower() for n in names])}
        specs = []
        for name in names:
            zone = known.get(name.strip().lower())
            specs.append(ZoneSpec.from_zone(zone) if zone else ZoneSpec.generic(name))
        return specs

    def print_report(self, report) -> None:
        self.stdout.write(f"Resolver: {report.resolver}")
        for public in report.public_resolvers:
            self.stdout.write(self.style.WARNING(f"  {public} is a public resolver: many lists refuse its queries"))
        if report.rewrites_nxdomain:
            self.stdout.write(self.style.WARNING("  the resolver rewrites NXDOMAIN: results are unknown"))
        self.stdout.write("\nLists:")
        for zone in report.zones:
            name = f"{zone.spec.zone} (IPv6)" if zone.family == 6 else zone.spec.zone
            self.stdout.write(f"  {name:<32} {zone.health:<24} {printable(zone.detail)}")
        listed = [f for f in report.findings if f.status == Status.LISTED]
        other = [f for f in report.findings if f.status not in (Status.LISTED, Status.CLEAN)]
        clean = len(report.findings) - len(listed) - len(other)
        self.stdout.write(f"\n{len(report.findings)} lookups: {len(listed)} listed, {clean} clean, {len(other)} other")
        for f in listed:
            # The TXT reason and the meaning come from the list's answer: never let them drive the terminal.
            line = f"  LISTED {f.address} on {f.spec.zone}: {printable(f.meaning)} {printable(f.txt)}".rstrip()
            self.stdout.write(self.style.ERROR(line))
        # Refused/unknown/ignored answers usually come a whole list at a time: one line per list and status.
        groups: dict[tuple[str, str], list[Finding]] = {}
        for f in other:
            groups.setdefault((f.spec.zone, f.status), []).append(f)
        for (zone, status), found in groups.items():
            who = found[0].address if len(found) == 1 else f"{len(found)} addresses"
            self.stdout.write(f"  {status:<7} {who} on {zone}: {printable(found[0].meaning)}")
