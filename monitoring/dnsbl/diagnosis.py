"""Why most block lists fail at once, and what to do about it.

When one list fails, the list is the problem (it closed, it wants a registration). When most fail in the same
sweep, the problem is on our side: the resolver this server asks. ``diagnose`` reads the lists' stored health
(and what the last sweep learnt about the resolver), so the dashboard and the sweep's alert give the cause and
the fix after every sweep, scheduled or started with "Check now".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from monitoring.dnsbl.models import DnsblSchedule, DnsblZone, Health

LOCAL_RESOLVER_FIX = (
    "Run a local recursive resolver on this server (for example unbound, listening on 127.0.0.1), set"
    " DNSBL_NAMESERVERS=127.0.0.1 and restart the worker; the next sweep checks the lists again."
)


@dataclass(frozen=True)
class Diagnosis:
    failing: int
    total: int
    cause: str
    fix: str

    @property
    def headline(self) -> str:
        return f"{self.failing} of {self.total} lists failed their health check at once."

    def as_text(self) -> str:
        return f"{self.headline} Likely cause: {self.cause} Fix: {self.fix}"


def diagnose(zones: list[DnsblZone], schedule: DnsblSchedule) -> Diagnosis | None:
    """The cause and the fix when more than half of the enabled, checked lists fail; None otherwise."""
    checked = [z for z in zones if z.enabled and z.health not in (Health.UNCHECKED, "")]
    failing = [z for z in checked if z.health != Health.HEALTHY]
    if len(failing) < 2 or len(failing) * 2 <= len(checked):
        return None
    counts = Counter(z.health for z in failing)
    resolver = f" ({schedule.resolver})" if schedule.resolver else ""
    if schedule.resolver_rewrites_nxdomain or counts[Health.LISTS_EVERYTHING] * 2 > len(failing):
        cause = (
            f"this server's resolver{resolver} answers with an address for names that do not exist (it rewrites"
            " 'no such name'), so every list seems to list everything and no answer can be trusted."
        )
        fix = "Use a resolver that passes answers on unchanged. " + LOCAL_RESOLVER_FIX
    elif schedule.resolver_is_public or counts[Health.REFUSED] * 2 > len(failing):
        cause = (
            f"the lists refuse queries that come through this server's resolver{resolver}: Spamhaus, URIBL and"
            " others refuse public resolvers (8.8.8.8, 1.1.1.1) and resolvers that send too many queries."
        )
        fix = LOCAL_RESOLVER_FIX + " Lists that need a registration or a key also need it entered on the Lists page."
    else:
        cause = (
            f"this server's resolver{resolver} cannot reach the lists: {_counted(counts)}. A resolver without"
            " internet access, or one that filters, answers 'not listed' for everything, test entries included."
        )
        fix = (
            "Check that this server may send DNS queries (UDP and TCP port 53) to the internet, or point"
            " DNSBL_NAMESERVERS at a resolver that can. " + LOCAL_RESOLVER_FIX
        )
    return Diagnosis(len(failing), len(checked), cause, fix)


def _counted(counts: Counter) -> str:
    words = {
        Health.UNREACHABLE: ("did not answer", "did not answer"),
        Health.NOT_LISTING_TEST_ENTRY: (
            "answered 'not listed' even for its test entry",
            "answered 'not listed' even for their test entries",
        ),
        Health.REFUSED: ("refused our queries", "refused our queries"),
        Health.LISTS_EVERYTHING: ("listed everything", "listed everything"),
    }
    parts = []
    for health, n in counts.most_common():
        one, many = words.get(health, (str(health), str(health)))
        parts.append(f"{n} {'list' if n == 1 else 'lists'} {one if n == 1 else many}")
    return ", ".join(parts)
