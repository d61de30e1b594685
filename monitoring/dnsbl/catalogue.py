"""What the checker knows about families of block lists beyond the zone rows: refusal codes and test points.

The catalogue of lists itself is data in the database (``DnsblZone``), edited by IT staff in the portal. A
migration loaded it (``monitoring/migrations/0003`` from its frozen ``_catalogue_0003.py``); a list added
for every install later comes with a data migration of the ``dnsbl`` app that holds its own copy of the rows.

A refusal is never a listing: Spamhaus 127.255.255.252/254/255 (and all of 127.255.255.0/24 for errors about
the query itself), Spamhaus DBL 127.0.1.255, URIBL and SURBL 127.0.0.1.
"""

from __future__ import annotations

SPAMHAUS_REFUSAL = ["127.255.255.252", "127.255.255.254", "127.255.255.255"]
SPAMHAUS_ERRORS = "127.255.255.0/24"

# Refusal codes of well-known families, for zones named with --zones that are not in the catalogue.
FAMILY_REFUSAL_CODES: dict[str, list[str]] = {
    "spamhaus.org": [*SPAMHAUS_REFUSAL, "127.0.1.255", SPAMHAUS_ERRORS],
    "spamhaus.net": [*SPAMHAUS_REFUSAL, "127.0.1.255", SPAMHAUS_ERRORS],
    "uribl.com": ["127.0.0.1"],
    "surbl.org": ["127.0.0.1"],
}

# The documented permanent test points of domain-list families. Their users are told to check these
# (test.uribl.com.multi.uribl.com, test.surbl.org.multi.surbl.org, dbltest.com.dbl.spamhaus.org); RFC 5782's
# bare TEST label is used for every other domain list.
DOMAIN_TEST_POINTS: dict[str, str] = {
    "spamhaus.org": "dbltest.com",
    "spamhaus.net": "dbltest.com",
    "uribl.com": "test.uribl.com",
    "surbl.org": "test.surbl.org",
}


def family_value(zone: str, table: dict):
    """The entry of ``table`` for the family (domain suffix) ``zone`` belongs to, or None."""
    return next((value for suffix, value in table.items() if zone == suffix or zone.endswith("." + suffix)), None)
