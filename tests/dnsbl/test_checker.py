"""The checker against a real DNS server on 127.0.0.1: RFC 5782 health, refusal codes, unknown vs clean."""

from __future__ import annotations

import pytest

from monitoring.dnsbl.checker import BadInput, ZoneSpec, check, expand_targets, reverse_name, validate_zone_name
from monitoring.dnsbl.resolver import ResolverConfig, parse_nameserver
from tests.dnsserver import DNSServer, domain_zone, ip_zone


def spec(zone: str, **extra) -> ZoneSpec:
    return ZoneSpec(zone=zone, query_zone=zone, **extra)


def run(server: DNSServer, targets: list[str], specs: list[ZoneSpec]):
    config = ResolverConfig([("127.0.0.1", server.port)], timeout=0.5, lifetime=1.5, max_in_flight=20)
    return check(targets, specs, config)


@pytest.fixture
def server():
    servers: list[DNSServer] = []

    def start(zones, **options) -> DNSServer:
        servers.append(DNSServer(zones, **options).start())
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


def by_zone(report) -> dict:
    return {z.spec.zone: z.health for z in report.zones}


def statuses(report) -> dict:
    return {(f.address, f.spec.zone): f.status for f in report.findings}


# --- names and input ---------------------------------------------------------------------------------


def test_ipv4_is_queried_with_reversed_octets():
    assert reverse_name("192.0.2.99") == "99.2.0.192"


def test_ipv6_is_queried_nibble_by_nibble_in_reverse():
    # RFC 5782 section 2.4: 2001:db8:1:2:3:4:567:89ab
    assert reverse_name("2001:db8:1:2:3:4:567:89ab") == (
        "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2"
    )
    assert len(reverse_name("2001:db8::1").split(".")) == 32


def test_networks_up_to_a_slash_24_are_expanded():
    assert len(expand_targets(["198.51.100.0/24"])) == 256
    assert expand_targets(["192.0.2.10", "192.0.2.10/32"]) == ["192.0.2.10"]
    assert len(expand_targets(["2001:db8::/120"])) == 256


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not-an-address", "is not an IP address or network"),
        ("10.0.0.0/8", "16,777,216 addresses; check at most a /24"),
        ("192.0.2.0/23", "check at most a /24"),
        ("2001:db8::/64", "check at most a /120"),
        ("300.1.1.1", "is not an IP address"),
        ("", "give at least one"),
    ],
)
def test_bad_targets_are_refused_with_a_clear_message(value, message):
    with pytest.raises(BadInput, match=message):
        expand_targets([value])


@pytest.mark.parametrize("name", ["zen spamhaus.org", "bl", "bad..zone.org", "x" * 64 + ".org", "semi;colon.org"])
def test_bad_zone_names_are_refused(name):
    with pytest.raises(BadInput, match="is not a DNS zone name"):
        validate_zone_name(name)


def test_nameservers_are_ip_or_ip_and_port():
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_nameserver("192.0.2.53") == ("192.0.2.53", 53)
    assert parse_nameserver("[2001:db8::53]:5300") == ("2001:db8::53", 5300)
    assert parse_nameserver("2001:db8::53") == ("2001:db8::53", 53)
    for bad in ("dns.example.com", "127.0.0.1:0", "127.0.0.1:x"):
        with pytest.raises(ValueError):
            parse_nameserver(bad)


# --- health and results against the real server ------------------------------------------------------------


def test_it_reads_listings_with_codes_meaning_and_txt(server):
    dns = server([ip_zone("bl.test", {"192.0.2.10": (["127.0.0.2", "127.0.0.4"], "Spam from 192.0.2.10, see x")})])
    codes = {"127.0.0.2": "SBL", "127.0.0.4": "XBL: compromised host"}
    report = run(dns, ["192.0.2.10", "192.0.2.11"], [spec("bl.test", codes=codes)])
    assert by_zone(report) == {"bl.test": "healthy"}
    listed = next(f for f in report.findings if f.address == "192.0.2.10")
    assert (listed.status, listed.codes, listed.meaning) == (
        "listed",
        ["127.0.0.2", "127.0.0.4"],
        codes["127.0.0.2"] + "; " + codes["127.0.0.4"],
    )
    assert listed.txt == "Spam from 192.0.2.10, see x"
    assert statuses(report)[("192.0.2.11", "bl.test")] == "clean"  # NXDOMAIN
    assert report.listed_on_healthy_list


def test_an_ipv6_listing_is_found_on_a_list_that_supports_ipv6(server):
    dns = server([ip_zone("v6.test", {"2001:db8::25": ["127.0.0.2"]}), ip_zone("v4only.test")])
    report = run(dns, ["2001:db8::25", "2001:db8::26"], [spec("v6.test", ipv6=True), spec("v4only.test")])
    assert statuses(report) == {("2001:db8::25", "v6.test"): "listed", ("2001:db8::26", "v6.test"): "clean"}


@pytest.mark.parametrize(
    ("zone", "codes"),
    [
        ("zen.spamhaus.test", "127.255.255.252"),  # typo in zone
        ("zen.spamhaus.test", "127.255.255.254"),  # public/open resolver
        ("zen.spamhaus.test", "127.255.255.255"),  # too many queries
        ("dbl.spamhaus.test", "127.0.1.255"),  # IP query on the domain list
    ],
)
def test_spamhaus_refusal_codes_are_refusals_never_listings(server, zone, codes):
    dns = server([ip_zone(zone, mode="refuse", refusal=codes)])
    refusals = frozenset({"127.255.255.252", "127.255.255.254", "127.255.255.255", "127.0.1.255"})
    report = run(dns, ["192.0.2.10"], [spec(zone, refusal_codes=refusals, refusal_advice="Use a local resolver.")])
    assert by_zone(report) == {zone: "refused"}
    assert codes in report.zones[0].detail and "Use a local resolver." in report.zones[0].detail
    assert statuses(report) == {("192.0.2.10", zone): "refused"}
    assert not report.listed_on_healthy_list


def test_uribl_answers_127_0_0_1_when_it_refuses_a_domain_query(server):
    dns = server([domain_zone("multi.uribl.test", mode="refuse", refusal="127.0.0.1")])
    report = run(
        dns, ["example.com"], [spec("multi.uribl.test", kind="domain", refusal_codes=frozenset({"127.0.0.1"}))]
    )
    assert by_zone(report) == {"multi.uribl.test": "refused"}
    assert statuses(report) == {("example.com", "multi.uribl.test"): "refused"}


def test_domain_lists_are_tested_with_test_and_invalid(server):
    dns = server([
        domain_zone("dbl.test", {"spammy.example": ["127.0.1.2"]}),
        domain_zone("notest.test", test_entry=False),
        domain_zone("all.test", mode="everything"),
    ])  # fmt: skip
    specs = [spec(z, kind="domain") for z in ("dbl.test", "notest.test", "all.test")]
    report = run(dns, ["spammy.example", "ours.example"], specs)
    assert by_zone(report) == {
        "dbl.test": "healthy",
        "notest.test": "not-listing-test-entry",
        "all.test": "lists-everything",
    }
    found = statuses(report)
    assert found[("spammy.example", "dbl.test")] == "listed"
    assert found[("ours.example", "dbl.test")] == "clean"
    assert found[("ours.example", "all.test")] == "ignored"
    assert found[("ours.example", "notest.test")] == "ignored"


def test_any_code_in_spamhaus_error_range_is_a_refusal_not_a_listing(server):
    # Spamhaus keeps 127.255.255.0/24 for errors about the query (an invalid DQS key, for one).
    dns = server([ip_zone("key.zen.dq.spamhaus.net", mode="refuse", refusal="127.255.255.250")])
    report = run(dns, ["192.0.2.10"], [ZoneSpec.generic("key.zen.dq.spamhaus.net")])
    assert by_zone(report) == {"key.zen.dq.spamhaus.net": "refused"}
    assert statuses(report) == {("192.0.2.10", "key.zen.dq.spamhaus.net"): "refused"}
    assert not report.listed_on_healthy_list


def test_domain_list_families_are_tested_with_their_documented_test_points(server):
    # URIBL, SURBL and Spamhaus DBL document test.uribl.com, test.surbl.org and dbltest.com as their test points.
    dns = server([
        domain_zone("multi.uribl.com", {"test.uribl.com": ["127.0.0.14"]}, test_entry=False),
        domain_zone("multi.surbl.org", {"test.surbl.org": ["127.0.0.248"]}, test_entry=False),
        domain_zone("dbl.spamhaus.org", {"dbltest.com": ["127.0.1.2"]}, test_entry=False),
    ])  # fmt: skip
    zones = ("multi.uribl.com", "multi.surbl.org", "dbl.spamhaus.org")
    report = run(dns, ["ours.example"], [spec(z, kind="domain") for z in zones])
    assert by_zone(report) == dict.fromkeys(zones, "healthy")
    assert "test.uribl.com listed, INVALID not listed" in report.zones[0].detail
    assert set(statuses(report).values()) == {"clean"}


def test_a_list_that_lists_everything_is_ignored_not_believed(server):
    dns = server([ip_zone("dead.ordb.test", mode="everything")])
    report = run(dns, ["192.0.2.10"], [spec("dead.ordb.test")])
    assert by_zone(report) == {"dead.ordb.test": "lists-everything"}
    assert "127.0.0.1 is listed" in report.zones[0].detail
    assert statuses(report) == {("192.0.2.10", "dead.ordb.test"): "ignored"}
    assert not report.listed_on_healthy_list


def test_a_list_without_its_test_entry_is_not_used(server):
    dns = server([ip_zone("notest.test", {"192.0.2.10": ["127.0.0.2"]}, test_entry=False)])
    report = run(dns, ["192.0.2.10"], [spec("notest.test")])
    assert by_zone(report) == {"notest.test": "not-listing-test-entry"}
    assert statuses(report) == {("192.0.2.10", "notest.test"): "ignored"}


def test_timeouts_and_servfail_are_unknown_never_clean(server):
    dns = server([ip_zone("silent.test", mode="silent"), ip_zone("broken.test", mode="servfail")])
    report = run(dns, ["192.0.2.10", "192.0.2.11"], [spec("silent.test"), spec("broken.test")])
    assert by_zone(report) == {"silent.test": "unreachable", "broken.test": "unreachable"}
    assert set(statuses(report).values()) == {"unknown"}
    assert "SERVFAIL" in report.zones[1].detail


def test_an_unreachable_list_is_probed_once_then_skipped(server):
    dns = server([ip_zone("silent.test", mode="silent"), ip_zone("ok.test")])
    targets = expand_targets(["192.0.2.0/26"])
    report = run(dns, targets, [spec("silent.test"), spec("ok.test")])
    assert by_zone(report) == {"silent.test": "unreachable", "ok.test": "healthy"}
    # 2 probes + the few A/TXT lookups sent with them, retried within the lifetime; not 64 lookups.
    silent_queries = report.queries - (2 + len(targets)) - 1
    assert silent_queries <= 3 * (2 + 2 * 8)  # at most 3 attempts each within the lifetime
    assert sum(1 for f in report.findings if f.spec.zone == "silent.test" and f.status == "unknown") == 64


def test_answers_outside_127_slash_8_mean_the_resolver_rewrites_nxdomain(server):
    dns = server([ip_zone("bl.test", {"192.0.2.10": ["127.0.0.2"]})], rewrite_nxdomain=True)
    report = run(dns, ["192.0.2.10", "192.0.2.11"], [spec("bl.test")])
    assert report.rewrites_nxdomain
    assert by_zone(report) == {"bl.test": "healthy"}
    found = {f.address: f for f in report.findings}
    assert found["192.0.2.10"].status == "listed"
    assert found["192.0.2.11"].status == "unknown"
    assert "outside 127.0.0.0/8" in found["192.0.2.11"].meaning


def test_bitmask_lists_are_read_bit_by_bit(server):
    dns = server([domain_zone("multi.surbl.test", {"bad.example": ["127.0.0.24"]})])
    table = {"8": "PH: phishing", "16": "MW: malware", "64": "ABUSE"}
    report = run(dns, ["bad.example"], [spec("multi.surbl.test", kind="domain", bitmask=True, codes=table)])
    assert report.findings[0].meaning == "PH: phishing, MW: malware"


def test_zones_outside_the_catalogue_are_read_generically():
    generic = ZoneSpec.generic("Zen.Spamhaus.org.")
    assert generic.zone == "zen.spamhaus.org"
    assert "127.255.255.254" in generic.refusal_codes
    assert ZoneSpec.generic("bl.example.net").refusal_codes == frozenset()


def test_progress_is_reported_from_the_callers_thread(server):
    import threading

    dns = server([ip_zone("bl.test")])
    seen: list[tuple[int, str]] = []
    config = ResolverConfig([("127.0.0.1", dns.port)], timeout=0.5, lifetime=1.5)
    check(
        expand_targets(["192.0.2.0/28"]),
        [spec("bl.test")],
        config,
        lambda n: seen.append((n, threading.current_thread().name)),
    )
    assert seen[-1][0] == 16
    assert {name for _, name in seen} == {threading.current_thread().name}


def test_a_bad_dnsbl_setting_stops_the_start_with_its_name(tmp_path):
    import os
    import subprocess
    import sys

    from tests.services import ROOT

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PORTAL_VAR_DIR": str(tmp_path)}
    for name, value, message in [
        ("DNSBL_NAMESERVERS", "127.0.0.1,dns.example.net", "DNSBL_NAMESERVERS: 'dns.example.net' is not an IP address"),
        ("DNSBL_TIMEOUT", "soon", "DNSBL_TIMEOUT must be a number"),
        ("DNSBL_MAX_IN_FLIGHT", "0", "DNSBL_MAX_IN_FLIGHT must be at least 1"),
    ]:
        result = subprocess.run(
            [sys.executable, "-c", "import django; django.setup()"],
            cwd=ROOT, env={**env, name: value}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode != 0
        assert message in result.stderr


def test_a_truncated_answer_is_asked_again_over_tcp(server):
    dns = server([ip_zone("big.test", {"192.0.2.10": (["127.0.0.2"], "Listed; the reason is long")}, mode="truncate")])
    report = run(dns, ["192.0.2.10", "192.0.2.11"], [spec("big.test")])
    assert by_zone(report) == {"big.test": "healthy"}
    found = {f.address: f for f in report.findings}
    assert (found["192.0.2.10"].status, found["192.0.2.10"].txt) == ("listed", "Listed; the reason is long")
    assert found["192.0.2.11"].status == "clean"


def test_well_known_public_resolvers_are_named():
    config = ResolverConfig([("8.8.8.8", 53), ("127.0.0.1", 5353), ("2606:4700:4700::1111", 53)])
    assert config.public_resolvers() == ["8.8.8.8 (Google Public DNS)", "2606:4700:4700::1111 (Cloudflare)"]
    assert config.describe() == "8.8.8.8, 127.0.0.1:5353, 2606:4700:4700::1111"


def test_queries_are_well_formed_recursive_questions():
    import dns.flags
    import dns.message
    import dns.name

    from monitoring.dnsbl.resolver import query_wire, question_wire

    name = dns.name.from_text("b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org.")
    message = dns.message.from_wire(query_wire(4242, question_wire(name.to_text(), 16)))
    assert message.id == 4242 and message.flags & dns.flags.RD and not message.flags & dns.flags.QR
    assert (message.question[0].name, message.question[0].rdtype) == (name, 16)
