"""The web check and "check now" run in a real Celery worker (Redis), and the page follows their progress."""

from __future__ import annotations

import time

import pytest

from monitoring.dnsbl.models import DnsblSweep, MonitoredAddress
from tests.dnsserver import ip_zone

pytestmark = pytest.mark.integration


def wait_for(client, sweep: DnsblSweep, timeout: float = 60) -> list[dict]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/monitoring/dnsbl/sweeps/{sweep.pk}/status.json").json()
        seen.append(status)
        if status["state"] in ("done", "failed"):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"sweep {sweep.pk} did not finish: {seen[-3:]}")


def test_a_new_address_check_runs_in_the_worker_with_progress(
    celery_worker_factory, celery_app, dns_server, dnsbl_catalogue, client, login, it_staff
):
    dnsbl_catalogue({"zone": "bl.test", "codes": {"127.0.0.2": "Spam source"}})
    server = dns_server([ip_zone("bl.test", {"198.51.100.77": (["127.0.0.2"], "Trap hit")})], delay=0.05)
    celery_worker_factory(
        concurrency=1, env={"DNSBL_NAMESERVERS": server.address, "DNSBL_MAX_IN_FLIGHT": "4", "DNSBL_LIFETIME": "2"}
    )
    login(client, it_staff)
    response = client.post("/monitoring/dnsbl/check/", {"targets": "198.51.100.0/25"})
    sweep = DnsblSweep.objects.get(kind="check")
    seen = wait_for(client, sweep)
    assert seen[-1] == {"state": "done", "done": 128, "total": 128, "percent": 100, "error": ""}
    assert any(s["state"] == "running" and 0 < s["done"] < 128 for s in seen), seen
    page = client.get(response.url).content.decode()
    assert "Listed 1 time on healthy lists" in page
    assert "198.51.100.77" in page and "Trap hit" in page


def test_check_now_sweeps_the_monitored_addresses_in_the_worker(
    celery_worker_factory, celery_app, dns_server, dnsbl_catalogue, client, login, it_staff
):
    dnsbl_catalogue({"zone": "bl.test"}, {"zone": "dead.test"})
    server = dns_server([ip_zone("bl.test"), ip_zone("dead.test", mode="silent")])
    MonitoredAddress.objects.create(value="192.0.2.25")
    celery_worker_factory(
        concurrency=1, env={"DNSBL_NAMESERVERS": server.address, "DNSBL_TIMEOUT": "0.5", "DNSBL_LIFETIME": "1.5"}
    )
    login(client, it_staff)
    client.post("/monitoring/dnsbl/sweep")
    sweep = DnsblSweep.objects.get(kind="manual")
    assert wait_for(client, sweep)[-1]["state"] == "done"
    text = client.get("/monitoring/dnsbl/").content.decode()
    assert "Clean on 1 of 1 working lists; 1 list is not working (unreachable)." in text
