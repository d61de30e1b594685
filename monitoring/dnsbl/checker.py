"""The block-list checker: RFC 5782 list health, then lookups, read with each list's own codes.

Pure logic plus asyncio; no ORM here (``dnsbl_sweep.py`` stores what this finds).

The reference facts (RFC 5782 and the lists' own documentation):

- an IP list MUST list 127.0.0.2 and MUST NOT list 127.0.0.1; a domain list
  MUST list ``TEST`` and MUST NOT list ``INVALID``; a list that fails is not used;
- NXDOMAIN means "not listed"; a timeout or SERVFAIL is "unknown", never clean;
- some answers mean "query refused", not "listed" (Spamhaus 127.255.255.252/254/255,
  Spamhaus DBL 127.0.1.255, URIBL/SURBL 127.0.0.1);
- an answer outside 127.0.0.0/8 comes from a resolver that rewrites NXDOMAIN: unknown;
- IPv6 addresses are queried as 32 reversed nibbles, and an IPv6 list's health is judged from
  RFC 5782's IPv6 test entries (section 5: "IPv6-based DNSxLs MUST contain an entry for
  ::FFFF:7F00:2" and "MUST NOT contain an entry for ::FFFF:7F00:1"), not from the IPv4 ones;
- an IPv4-mapped IPv6 address (``::ffff:192.0.2.66``) is the IPv4 address it carries, and is checked
  as that; a scoped IPv6 address (``fe80::1%eth0``) names an interface of one machine and is refused.

How a sweep stays fast: every list is probed and looked up at the same time,
under one bound on queries in flight. Each list sends its probes together with
its first few lookups (A and TXT at once, so a listing costs one round trip);
the rest of its lookups wait for the probe. So a list
that never answers costs one timeout and a handful of queries, then is
skipped, and no other list waits for it. A list that stops answering during
the check is given up after a few timeouts: its lookups still waiting are
cancelled (reported unknown) instead of each waiting out its own lifetime.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache, partial

from monitoring.dnsbl.catalogue import DOMAIN_TEST_POINTS, FAMILY_REFUSAL_CODES, family_value
from monitoring.dnsbl.models import Health, Status, describe_codes
from monitoring.dnsbl.resolver import ANSWER, NODATA, NXDOMAIN, TIMEOUT, Answer, Resolver, ResolverConfig

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
# RFC 5782 section 5, test entries: (must be listed, must not be listed) per kind of list.
IPV4_TEST_ENTRIES = ("127.0.0.2", "127.0.0.1")
IPV6_TEST_ENTRIES = ("::ffff:7f00:2", "::ffff:7f00:1")  # ::FFFF:7F00:2 and ::FFFF:7F00:1 in the RFC's text
DOMAIN, IPV4, IPV6 = 0, 4, 6  # what a list's test entries are for
MAX_IPV4_PREFIX, MAX_IPV6_PREFIX = 24, 120  # largest ranges a check accepts: 256 addresses
SPECULATIVE_LOOKUPS = 3  # lookups (A and TXT) sent together with a list's health probes
GIVE_UP_AFTER_TIMEOUTS = 3  # a list that stops answering mid-sweep is not waited on again


class BadInput(ValueError):
    """An address, network or zone name the checker will not take (the message says why)."""


# --- Names -------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def reverse_name(address: str) -> str:
    """The label part of a DNSBL query: 4 reversed octets, or 32 reversed nibbles for IPv6 (RFC 5782)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return ".".join(reversed(str(ip).split(".")))
    return ".".join(reversed(ip.exploded.replace(":", "")))


def parse_network(item: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """One address or network as typed; IPv4-mapped IPv6 becomes the IPv4 it carries. BadInput otherwise."""
    if "%" in item:
        raise BadInput(
            f"{item!r} is a scoped IPv6 address (%zone names an interface of one machine): it cannot be on a"
            " block list; give the address without the %zone"
        )
    try:
        network = ipaddress.ip_network(item, strict=False)
    except ValueError:
        raise BadInput(f"{item!r} is not an IP address or network (e.g. 192.0.2.10 or 192.0.2.0/28)") from None
    if network.version == 6 and network.subnet_of(IPV4_MAPPED):  # type: ignore[arg-type]
        # ::ffff:192.0.2.66 is 192.0.2.66 on the wire: lists know it under its IPv4 name only.
        mapped = int(network.network_address) & 0xFFFFFFFF
        network = ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def normalise_address(value: str) -> str:
    """A single address as the checker asks for it (``::ffff:192.0.2.66`` -> ``192.0.2.66``); BadInput otherwise."""
    network = parse_network(value.strip())
    if network.num_addresses != 1:
        raise BadInput(f"{value!r} is a network, not one address")
    return str(network.network_address)


def expand_targets(items: Iterable[str], max_addresses: int | None = None) -> list[str]:
    """Addresses and networks (up to /24 and /120) as a list of addresses; BadInput otherwise.

    ``max_addresses`` caps the total (``DNSBL_MAX_ADDRESSES`` for checks people start): a thousand /24s
    would be millions of queries to lists that rate-limit or ban the sender.
    """
    networks = []
    total = 0
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        network = parse_network(item)
        limit = MAX_IPV4_PREFIX if network.version == 4 else MAX_IPV6_PREFIX
        if network.prefixlen < limit:
            raise BadInput(
                f"{item} has {network.num_addresses:,} addresses; check at most a /{limit} (256 addresses) at a time"
            )
        total += network.num_addresses
        if max_addresses is not None and total > max_addresses:
            raise BadInput(
                f"at most {max_addresses:,} addresses in one check (this one has more); split it into smaller checks"
            )
        networks.append(network)
    addresses: list[str] = []
    for network in networks:
        hosts = [network.network_address] if network.num_addresses == 1 else list(network)
        addresses.extend(str(host) for host in hosts)
    if not addresses:
        raise BadInput("give at least one IP address or network")
    return list(dict.fromkeys(addresses))


def validate_zone_name(name: str) -> str:
    zone = name.strip().rstrip(".").lower()
    labels = zone.split(".")
    if (
        not zone
        or len(zone) > 253
        or len(labels) < 2
        or any(not label or len(label) > 63 for label in labels)
        or any(not (ch.isalnum() or ch in "-_") for label in labels for ch in label)
    ):
        raise BadInput(f"{name!r} is not a DNS zone name (e.g. zen.spamhaus.org)")
    return zone


# --- What the checker needs to know about a list -----------------------------------------


@dataclass(frozen=True)
class ZoneSpec:
    zone: str  # as shown
    query_zone: str  # where queries go (KEY.zone for keyed lists)
    kind: str = "ip"  # ip | domain
    ipv6: bool = False
    codes: dict = field(default_factory=dict)
    bitmask: bool = False
    refusal_codes: frozenset[str] = frozenset()
    refusal_advice: str = ""
    pk: int | None = None

    @classmethod
    def from_zone(cls, zone) -> ZoneSpec:  # a DnsblZone
        return cls(
            zone=zone.zone,
            query_zone=zone.query_zone,
            kind=zone.kind,
            ipv6=zone.ipv6,
            codes=dict(zone.codes),
            bitmask=zone.bitmask,
            refusal_codes=frozenset(zone.refusal_codes),
            refusal_advice=zone.refusal_advice,
            pk=zone.pk,
        )

    @classmethod
    def generic(cls, name: str) -> ZoneSpec:
        """A zone outside the catalogue: any 127.0.0.0/8 answer is a listing, bar known refusal codes."""
        zone = validate_zone_name(name)
        refusals = family_value(zone, FAMILY_REFUSAL_CODES) or []
        return cls(zone=zone, query_zone=zone, kind="ip", ipv6=True, refusal_codes=frozenset(refusals))

    def applies_to(self, target: str) -> bool:
        family = family_of(target)
        if family == DOMAIN:
            return self.kind == "domain"
        return self.kind == "ip" and (family == IPV4 or self.ipv6)

    def name_for(self, target: str) -> str:
        label = target if self.kind == "domain" else reverse_name(target)
        return f"{label}.{self.query_zone}."

    def test_entries(self, family: int = IPV4) -> tuple[str, str]:
        """(must be listed, must not be listed), RFC 5782 section 5; a domain family's documented test point."""
        if self.kind == "domain":
            return family_value(self.zone, DOMAIN_TEST_POINTS) or "test", "invalid"
        return IPV6_TEST_ENTRIES if family == IPV6 else IPV4_TEST_ENTRIES

    def probes(self, family: int = IPV4) -> tuple[str, str]:
        return tuple(self.name_for(entry) for entry in self.test_entries(family))  # type: ignore[return-value]


def family_of(target: str) -> int:
    """Which test entries judge the answers for ``target``: DOMAIN, IPV4 or IPV6."""
    if ":" in target:
        return IPV6
    return IPV4 if target[:1].isdigit() and target.replace(".", "").isdigit() else DOMAIN


# --- Reading answers -------------------------------------------------------------------------


@dataclass
class Reading:
    status: str
    codes: list[str] = field(default_factory=list)
    detail: str = ""
    outside_loopback: bool = False


def read_answer(answer: Answer, spec: ZoneSpec) -> Reading:
    if answer.outcome in (NXDOMAIN, NODATA):
        return Reading(Status.CLEAN)
    if answer.outcome != ANSWER:
        label = "no answer (timeout)" if answer.outcome == TIMEOUT else answer.detail or answer.outcome
        return Reading(Status.UNKNOWN, detail=label)
    codes = sorted(set(answer.records), key=_ip_sort_key)
    outside = [code for code in codes if not _in_loopback(code)]
    if outside:
        return Reading(
            Status.UNKNOWN,
            codes,
            f"answer {', '.join(outside)} is outside 127.0.0.0/8: the resolver rewrites NXDOMAIN",
            outside_loopback=True,
        )
    refused = [code for code in codes if is_refusal(code, spec.refusal_codes)]
    if refused:
        return Reading(Status.REFUSED, codes, f"the list refused the query ({', '.join(refused)})")
    return Reading(Status.LISTED, codes)


def is_refusal(code: str, refusals: frozenset[str]) -> bool:
    """A refusal code is an address (127.255.255.254) or a network of them (127.255.255.0/24)."""
    if code in refusals:
        return True
    for entry in refusals:
        if "/" in entry:
            try:
                if ipaddress.ip_address(code) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def _in_loopback(code: str) -> bool:
    try:
        return ipaddress.ip_address(code) in LOOPBACK
    except ValueError:
        return False


def _ip_sort_key(code: str) -> tuple:
    try:
        return (0, int(ipaddress.ip_address(code)))
    except ValueError:
        return (1, code)


@dataclass
class ZoneHealth:
    spec: ZoneSpec
    health: str
    detail: str = ""
    codes: list[str] = field(default_factory=list)  # the refusal codes seen, for a refused list
    family: int = IPV4  # which test entries were asked (IPV6: RFC 5782's IPv6 ones, for IPv6 lookups)

    @property
    def usable(self) -> bool:
        return self.health == Health.HEALTHY


def judge_health(spec: ZoneSpec, listed_probe: Answer, unlisted_probe: Answer, family: int = IPV4) -> ZoneHealth:
    """RFC 5782 section 5 applied to the two test entries' answers."""
    must, must_not = read_answer(listed_probe, spec), read_answer(unlisted_probe, spec)
    test, invalid = (
        entry.upper() if entry in ("test", "invalid") or ":" in entry else entry for entry in spec.test_entries(family)
    )
    health = partial(ZoneHealth, spec, family=family)
    for reading in (must, must_not):
        if reading.status == Status.REFUSED:
            advice = f" {spec.refusal_advice}" if spec.refusal_advice else ""
            return health(Health.REFUSED, f"{reading.detail}.{advice}"[:300], reading.codes)
    if must.status == Status.UNKNOWN and not must.outside_loopback:
        return health(Health.UNREACHABLE, f"test entry {test}: {must.detail}")
    if must_not.status == Status.LISTED:
        return health(
            Health.LISTS_EVERYTHING,
            f"{invalid} is listed ({', '.join(must_not.codes)}): the list answers 'listed' for everything",
        )
    if must.status == Status.LISTED:
        note = " (the resolver rewrites NXDOMAIN)" if must_not.outside_loopback else ""
        return health(Health.HEALTHY, f"{test} listed, {invalid} not listed{note}")
    if must.outside_loopback:
        return health(Health.NOT_LISTING_TEST_ENTRY, f"test entry {test}: {must.detail}")
    return health(Health.NOT_LISTING_TEST_ENTRY, f"test entry {test} is not listed")


# --- The check ---------------------------------------------------------------------------------


@dataclass
class Finding:
    address: str
    spec: ZoneSpec
    status: str
    codes: list[str] = field(default_factory=list)
    meaning: str = ""
    txt: str = ""

    def as_json(self) -> dict:
        return {
            "address": self.address,
            "zone": self.spec.zone,
            "status": str(self.status),
            "codes": self.codes,
            "meaning": self.meaning,
            "txt": self.txt,
        }


@dataclass
class Report:
    zones: list[ZoneHealth]
    findings: list[Finding]
    resolver: str = ""
    public_resolvers: list[str] = field(default_factory=list)
    rewrites_nxdomain: bool = False
    queries: int = 0

    def as_json(self) -> dict:
        zones = []
        for z in self.zones:
            entry = {"zone": z.spec.zone, "health": str(z.health)}
            if z.family == IPV6:
                entry["test_entries"] = "ipv6"  # the list's health for IPv6 lookups (RFC 5782 IPv6 test entries)
            zones.append(entry)
        return {"zones": zones, "results": [f.as_json() for f in self.findings]}

    @property
    def listed_on_healthy_list(self) -> bool:
        return any(f.status == Status.LISTED for f in self.findings)

    def unchecked(self, targets: list[str]) -> str:
        return unchecked(targets, self.findings)


def unchecked(targets: list[str], results: Iterable) -> str:
    """Why "nothing listed" is not "clean" (empty: it is): every (address, list) pair must have a definite
    answer. Lookups refused, without an answer, or on a list that failed its health check, and addresses
    no working list answered, each make the check incomplete. ``results`` are Findings or DnsblResult rows."""
    results = list(results)
    counts = {status: sum(1 for r in results if r.status == status) for status in INCOMPLETE}
    answered = {r.address for r in results if r.status in (Status.CLEAN, Status.LISTED)}
    unanswered = [target for target in targets if target not in answered]
    reasons = []
    for status, words in INCOMPLETE.items():
        if counts[status]:
            n = counts[status]
            reasons.append(f"{n} lookup{'s' if n != 1 else ''} {words}")
    if unanswered:
        some = ", ".join(unanswered[:5]) + (f" and {len(unanswered) - 5} more" if len(unanswered) > 5 else "")
        reasons.append(f"no working list answered for {some}")
    return "; ".join(reasons)


# Results that leave an (address, list) pair unchecked, and how the reason reads.
INCOMPLETE = {
    Status.UNKNOWN: "got no usable answer (timeout, SERVFAIL)",
    Status.REFUSED: "refused by the list",
    Status.IGNORED: "on a list that failed its health check",
}


def count_lookups(targets: list[str], specs: list[ZoneSpec]) -> int:
    return sum(1 for spec in specs for target in targets if spec.applies_to(target))


class _Zone:
    """The state of one list during a check: its health per kind of test entry, and its lookups in flight."""

    def __init__(self, spec: ZoneSpec) -> None:
        self.spec = spec
        self.health: dict[int, ZoneHealth] = {}
        self.judged: dict[int, asyncio.Event] = {}
        self.timeouts = 0
        self.lookups: set[asyncio.Task] = set()
        self.dead = False

    def give_up(self) -> None:
        """The list stopped answering: cancel its lookups still waiting (they become unknown at once)."""
        self.dead = True
        current = asyncio.current_task()
        for task in self.lookups:
            if task is not current and not task.done():
                task.cancel()


async def check_async(
    targets: list[str],
    specs: list[ZoneSpec],
    config: ResolverConfig,
    progress: Callable[[int], None] | None = None,
) -> Report:
    resolver = Resolver(config)
    done = 0
    zones = [_Zone(spec) for spec in specs]
    nxdomain_probe = _nxdomain_probe(resolver, specs)

    async def probe(zone: _Zone, family: int) -> None:
        listed, unlisted = zone.spec.probes(family)
        answers = await asyncio.gather(resolver.a(listed), resolver.a(unlisted))
        zone.health[family] = health = judge_health(zone.spec, *answers, family=family)
        zone.judged[family].set()
        if health.health == Health.UNREACHABLE and len(zone.judged) == 1:
            zone.give_up()  # its speculative lookups would only time out as the probes did

    async def look_up(zone: _Zone, target: str, family: int, speculative: bool) -> Finding:
        nonlocal done
        try:
            answer = txt = None
            if speculative:
                # A and TXT together: a listed address needs no second round trip for its reason.
                name = zone.spec.name_for(target)
                answer, txt = await asyncio.gather(resolver.a(name), resolver.txt(name))
            await zone.judged[family].wait()
            return await _finding(resolver, zone, target, family, answer, txt)
        except asyncio.CancelledError:
            if not zone.dead:
                raise  # cancelled from outside: the check itself is being stopped
            health = zone.health.get(family)
            if health is not None and health.health != Health.HEALTHY:
                return _unusable(target, zone.spec, health)
            return Finding(target, zone.spec, Status.UNKNOWN, meaning="the list stopped answering during the check")
        finally:
            done += 1
            if progress:
                progress(done)

    jobs = []
    for zone in zones:
        applicable = [target for target in targets if zone.spec.applies_to(target)]
        by_family: dict[int, list[str]] = {}
        for target in applicable:
            by_family.setdefault(family_of(target), []).append(target)
        families = sorted(by_family) or [DOMAIN if zone.spec.kind == "domain" else IPV4]
        for family in families:
            zone.judged[family] = asyncio.Event()
            jobs.append(asyncio.ensure_future(probe(zone, family)))
        for family, members in by_family.items():
            for n, target in enumerate(members):
                task = asyncio.ensure_future(look_up(zone, target, family, n < SPECULATIVE_LOOKUPS))
                zone.lookups.add(task)
                jobs.append(task)
    try:
        outcomes = await asyncio.gather(nxdomain_probe, *jobs)
    finally:
        await resolver.close()
    findings = [item for item in outcomes[1:] if isinstance(item, Finding)]
    rewrites = outcomes[0] or any(f.status == Status.UNKNOWN and "rewrites NXDOMAIN" in f.meaning for f in findings)
    return Report(
        zones=[zone.health[family] for zone in zones for family in sorted(zone.health)],
        findings=findings,
        resolver=config.describe(),
        public_resolvers=config.public_resolvers(),
        rewrites_nxdomain=bool(rewrites),
        queries=resolver.queries,
    )


async def _nxdomain_probe(resolver: Resolver, specs: list[ZoneSpec]) -> bool:
    """Does the resolver answer for a name that cannot exist? (Then 'not listed' turns into an address.)"""
    if not specs:
        return False
    name = f"nxdomain-probe-{secrets.token_hex(6)}.{specs[0].query_zone}."
    answer = await resolver.a(name)
    return answer.outcome == ANSWER and any(not _in_loopback(code) for code in answer.records)


def _unusable(target: str, spec: ZoneSpec, health: ZoneHealth) -> Finding:
    """The result on a list that failed its health check for this kind of address."""
    which = " (IPv6 test entries)" if health.family == IPV6 else ""
    if health.health == Health.REFUSED:
        codes = ", ".join(health.codes)
        return Finding(target, spec, Status.REFUSED, meaning=f"the list refuses our queries ({codes}); see its health")
    if health.health == Health.UNREACHABLE:
        return Finding(target, spec, Status.UNKNOWN, meaning=f"the list did not answer its health check{which}")
    return Finding(target, spec, Status.IGNORED, meaning=f"list is {health.health}{which}; its answers are ignored")


async def _finding(
    resolver: Resolver, zone: _Zone, target: str, family: int, answer: Answer | None, txt: Answer | None = None
) -> Finding:
    spec, health = zone.spec, zone.health[family]
    if not health.usable:
        return _unusable(target, spec, health)
    if answer is None:
        if zone.dead or zone.timeouts >= GIVE_UP_AFTER_TIMEOUTS:
            return Finding(target, spec, Status.UNKNOWN, meaning="the list stopped answering during the check")
        answer = await resolver.a(spec.name_for(target))
    if answer.outcome == TIMEOUT:
        zone.timeouts += 1
        if zone.timeouts >= GIVE_UP_AFTER_TIMEOUTS and not zone.dead:
            zone.give_up()
    reading = read_answer(answer, spec)
    if reading.status != Status.LISTED:
        return Finding(target, spec, reading.status, reading.codes, reading.detail)
    if txt is None:
        txt = await resolver.txt(spec.name_for(target))
    return Finding(
        target,
        spec,
        Status.LISTED,
        reading.codes,
        describe_codes(reading.codes, spec.codes, bitmask=spec.bitmask)[:300],
        " ".join(txt.records)[:500] if txt.outcome == ANSWER else "",
    )


def check(
    targets: list[str],
    specs: list[ZoneSpec],
    config: ResolverConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Run a check from synchronous code (a task, a command).

    The event loop runs in its own thread so that ``progress`` (which may write
    to the database) is called from the caller's thread, where the ORM may be used.
    """
    config = config or ResolverConfig.from_settings()
    counter = {"done": 0}  # written by the loop thread, read here
    outcome: dict = {}

    async def keep_report() -> None:
        # Kept here, not returned: at its end asyncio.run (3.11) formats the main task's repr, result
        # included, and the repr of thousands of findings cost a tenth of a second.
        outcome["report"] = await check_async(targets, specs, config, partial(counter.__setitem__, "done"))

    def run_loop() -> None:
        try:
            asyncio.run(keep_report())
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    # A check makes tens of thousands of short-lived objects; with Django loaded, each automatic collection
    # walks the whole heap, which cost more CPU than the lookups. Collect once afterwards instead.
    collecting = gc.isenabled()
    gc.disable()
    thread = threading.Thread(target=run_loop, name="dnsbl-check", daemon=True)
    try:
        thread.start()
        reported = -1
        while reported != counter["done"] or thread.is_alive():
            thread.join(0.5)
            if progress and counter["done"] != reported:
                progress(counter["done"])
            reported = counter["done"]
    finally:
        if collecting:
            gc.enable()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["report"]
