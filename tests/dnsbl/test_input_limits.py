"""Issue 14, "DNSBL input": caps on a check, scoped and IPv4-mapped IPv6, and sweeps that stored bad input
cannot break. Each test reproduces what the review did, then proves the fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from monitoring.dnsbl import sweep as dnsbl_sweep
from monitoring.dnsbl.models import DnsblResult, DnsblSweep, ListingChange, MonitoredAddress
from monitoring.dnsbl.report import dashboard, status_line
from tests.dnsserver import ip_zone

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 42, tzinfo=UTC)


@pytest.fixture
def staff_client(client, login, it_staff):
    login(client, it_staff)
    return client


def test_a_check_of_a_thousand_slash_24s_is_refused(staff_client, settings):
    targets = "\n".join(f"10.{n // 256}.{n % 256}.0/24" for n in range(1000))
    response = staff_client.post("/monitoring/dnsbl/check/", {"targets": targets})
    assert response.status_code == 200
    assert "at most 1,024 addresses in one check" in response.content.decode()
    assert not DnsblSweep.objects.exists()
    settings.DNSBL_MAX_ADDRESSES = 2000  # the cap is a setting
    assert "at most 1,024" not in staff_client.post("/monitoring/dnsbl/check/", {"targets": targets}).content.decode()


def test_checks_per_it_user_per_hour_are_limited(staff_client, settings, celery_app):
    settings.DNSBL_CHECKS_PER_HOUR = 2
    with time_machine.travel(T0, tick=False):
        for _ in range(2):
            assert staff_client.post("/monitoring/dnsbl/check/", {"targets": "192.0.2.1"}).status_code == 302
        response = staff_client.post("/monitoring/dnsbl/check/", {"targets": "192.0.2.1"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "You have started 2 checks in the last hour" in page and "192.0.2.1" in page  # nothing typed is lost
    assert DnsblSweep.objects.filter(kind="check").count() == 2
    with time_machine.travel(T0 + timedelta(hours=1, seconds=1), tick=False):
        assert staff_client.post("/monitoring/dnsbl/check/", {"targets": "192.0.2.1"}).status_code == 302


@pytest.mark.parametrize("url", ["/monitoring/dnsbl/check/", "/monitoring/dnsbl/addresses/"])
def test_a_scoped_ipv6_address_is_refused_with_a_clear_message(staff_client, url):
    field = "targets" if url.endswith("check/") else "value"
    response = staff_client.post(url, {field: "fe80::1%eth0"})
    assert response.status_code == 200
    assert "scoped IPv6 address" in response.content.decode()
    assert not MonitoredAddress.objects.exists() and not DnsblSweep.objects.exists()


def test_an_ipv4_mapped_address_is_monitored_as_its_ipv4(staff_client):
    staff_client.post("/monitoring/dnsbl/addresses/", {"value": "::ffff:192.0.2.66"})
    assert list(MonitoredAddress.objects.values_list("value", "kind")) == [("192.0.2.66", "ipv4")]


def test_a_stored_scoped_address_never_breaks_a_sweep(dns_server, dnsbl_catalogue):
    # Stored before the forms refused it: the sweep reports it as unknown and checks the rest.
    dnsbl_catalogue({"zone": "bl.test"})
    dns_server([ip_zone("bl.test", {"192.0.2.7": ["127.0.0.2"]})])
    MonitoredAddress.objects.create(value="fe80::1%eth0")
    MonitoredAddress.objects.create(value="192.0.2.7")
    sweep = dnsbl_sweep.run_sweep(DnsblSweep.objects.create(kind="manual").pk)
    assert sweep.state == "done"
    rows = {r.address: (r.status, r.meaning) for r in DnsblResult.objects.filter(sweep=sweep)}
    assert rows["192.0.2.7"][0] == "listed"
    assert rows["fe80::1%eth0"][0] == "unknown" and "scoped IPv6" in rows["fe80::1%eth0"][1]


def test_no_list_health_email_before_any_address_is_monitored(dns_server, dnsbl_catalogue, it_staff, smtp_server):
    dnsbl_catalogue({"zone": "bl.test"}, {"zone": "zen.spamhaus.test", "refusal_codes": ["127.255.255.254"]})
    dns_server([ip_zone("bl.test"), ip_zone("zen.spamhaus.test", mode="refuse", refusal="127.255.255.254")])
    sweep = dnsbl_sweep.run_sweep(DnsblSweep.objects.create(kind="scheduled").pk)
    assert sweep.state == "done" and sweep.alert_text == ""
    assert smtp_server.messages == []
    assert ListingChange.objects.filter(address="", current="refused").exists()  # still recorded for the page


def test_a_paused_address_leaves_listed_now_and_the_status(dns_server, dnsbl_catalogue):
    dnsbl_catalogue({"zone": "bl.test"})
    dns_server([ip_zone("bl.test", {"192.0.2.7": ["127.0.0.2"]})])
    address = MonitoredAddress.objects.create(value="192.0.2.7")
    dnsbl_sweep.run_sweep(DnsblSweep.objects.create(kind="manual").pk)
    assert [p.address for p in dashboard(True)["current_listings"]] == ["192.0.2.7"]
    assert status_line().status == "critical"
    address.enabled = False
    address.save()
    assert dashboard(True)["current_listings"] == []
    assert status_line().status != "critical"
