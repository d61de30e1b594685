"""``dnsbl_check``'s exit status table (issue 13), one test per row, against the local DNS server.

0  every (address, list) pair got a definite answer and none is listed
1  listed on a healthy list
2  bad input
3  anything not checked (refused, unknown, ignored), even when other lists answered
"""

from __future__ import annotations

import json

import pytest

from tests.dnsbl.test_check_command import run
from tests.dnsserver import ip_zone

pytestmark = pytest.mark.django_db


@pytest.fixture
def lists(dns_server, dnsbl_catalogue):
    dnsbl_catalogue(
        {"zone": "bl.test", "ipv6": True},
        {"zone": "other.test"},
        {"zone": "zen.spamhaus.test", "refusal_codes": ["127.255.255.254"]},
        {"zone": "silent.test"},
        {"zone": "all.test"},
        {"zone": "nov6.test", "ipv6": True},
    )
    return dns_server([
        ip_zone("bl.test", {"192.0.2.7": (["127.0.0.2"], "Listed for spam"), "192.0.2.66": ["127.0.0.2"]}),
        ip_zone("other.test"),
        ip_zone("zen.spamhaus.test", mode="refuse", refusal="127.255.255.254"),
        ip_zone("silent.test", mode="silent"),
        ip_zone("all.test", mode="everything"),
        ip_zone("nov6.test", ipv6_test_entry=False),
    ])  # fmt: skip


def test_0_every_pair_answered_and_nothing_listed(lists):
    code, _, err = run("192.0.2.8", "192.0.2.9", "--zones", "bl.test,other.test")
    assert (code, err) == (0, "")


def test_1_listed_on_a_healthy_list_even_when_another_list_refused(lists):
    code, out, _ = run("192.0.2.7", "--zones", "bl.test,zen.spamhaus.test", "--json")
    assert code == 1
    assert {r["zone"]: r["status"] for r in json.loads(out)["results"]} == {
        "bl.test": "listed",
        "zen.spamhaus.test": "refused",
    }


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (["not-an-address"], "is not an IP address or network"),
        (["192.0.2.0/23"], "check at most a /24"),
        (["fe80::1%eth0"], "scoped IPv6 address"),
        ([f"10.{n}.0.0/24" for n in range(5)], "at most 1,024 addresses in one check"),
    ],
)
def test_2_bad_input(lists, targets, message):
    code, out, err = run(*targets, "--zones", "bl.test")
    assert code == 2 and out == ""
    assert message in err


def test_3_refused_by_the_list_while_another_list_said_clean(lists):
    # The public-resolver case: Spamhaus never checked the address; a script must not accept it.
    code, _, err = run("192.0.2.8", "--zones", "bl.test,zen.spamhaus.test")
    assert code == 3 and "1 lookup refused by the list" in err


def test_3_unknown_when_a_list_does_not_answer(lists):
    code, _, err = run("192.0.2.8", "--zones", "bl.test,silent.test")
    assert code == 3 and "1 lookup got no usable answer" in err


def test_3_ignored_when_a_list_failed_its_health_check(lists):
    code, _, err = run("192.0.2.8", "--zones", "bl.test,all.test")
    assert code == 3 and "1 lookup on a list that failed its health check" in err


def test_3_when_nothing_could_be_asked(lists, settings, monkeypatch):
    # No DNSBL_NAMESERVERS and no resolv.conf entry: no nameserver at all.
    from monitoring.dnsbl import resolver

    settings.DNSBL_NAMESERVERS = []
    monkeypatch.setattr(resolver, "system_nameservers", list)
    code, _, err = run("192.0.2.8", "--zones", "bl.test")
    assert code == 3 and "could not check" in err


def test_an_ipv6_list_is_judged_by_the_rfc_5782_ipv6_test_entries(lists):
    # nov6.test lists 127.0.0.2 but not ::FFFF:7F00:2: fine for IPv4 lookups, ignored for IPv6 ones.
    code, out, err = run("2001:db8::25", "192.0.2.8", "--zones", "bl.test,nov6.test", "--json")
    data = json.loads(out)
    assert {(z["zone"], z.get("test_entries", "ipv4")): z["health"] for z in data["zones"]} == {
        ("bl.test", "ipv4"): "healthy",
        ("bl.test", "ipv6"): "healthy",
        ("nov6.test", "ipv4"): "healthy",
        ("nov6.test", "ipv6"): "not-listing-test-entry",
    }
    statuses = {(r["address"], r["zone"]): r["status"] for r in data["results"]}
    assert statuses[("192.0.2.8", "nov6.test")] == "clean"
    assert statuses[("2001:db8::25", "nov6.test")] == "ignored"
    assert code == 3 and "on a list that failed its health check" in err


def test_the_ipv6_test_entry_is_the_rfc_5782_address():
    from monitoring.dnsbl.checker import IPV6, ZoneSpec

    listed, unlisted = ZoneSpec(zone="v6.test", query_zone="v6.test", ipv6=True).probes(IPV6)
    # ::FFFF:7F00:2 and ::FFFF:7F00:1, nibble by nibble (RFC 5782 sections 2.4 and 5).
    assert listed == "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.v6.test."
    assert unlisted == "1.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.v6.test."


def test_an_ipv4_mapped_address_is_checked_as_the_ipv4_it_carries(lists):
    # Issue 14: ::ffff:192.0.2.66 was checked as IPv6 and reported clean while 192.0.2.66 is listed.
    code, out, _ = run("::ffff:192.0.2.66", "--zones", "bl.test", "--json")
    assert code == 1
    assert json.loads(out)["results"][0] | {"txt": ""} == {
        "address": "192.0.2.66", "zone": "bl.test", "status": "listed", "codes": ["127.0.0.2"],
        "meaning": "Spam source", "txt": "",
    }  # fmt: skip


def test_received_txt_is_printed_with_control_characters_escaped(dns_server, dnsbl_catalogue):
    dnsbl_catalogue({"zone": "evil.test"})
    dns_server([ip_zone("evil.test", {"192.0.2.5": (["127.0.0.2"], "spam \x1b[2J\x1b]0;pwned\x07 here")})])
    code, out, _ = run("192.0.2.5")
    assert code == 1
    assert "\x1b" not in out and "\x07" not in out
    assert r"spam \x1b[2J\x1b]0;pwned\x07 here" in out
