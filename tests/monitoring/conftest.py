"""Fixtures for the monitoring tests, one section per area."""

from __future__ import annotations

from collections.abc import Callable

import pytest

# --- Server load and drift ---------------------------------------------------------------------------


@pytest.fixture
def make_load_sample(db) -> Callable:
    """Store a ``LoadSample`` at ``at`` with quiet defaults; pass the values a test cares about."""
    from monitoring.models.load import LoadSample

    def make(at, **values):
        fields = {
            "cpu": 10.0, "load": 5.0, "memory": 40.0, "swap": 0.0, "disk": 50.0,
            "disks": [{"mount": "/", "percent": 50.0, "used": 50 * 10**9, "total": 100 * 10**9, "free": 50 * 10**9}],
            "disk_read": 0.0, "disk_write": 0.0, "net_in": 1e6, "net_out": 1e6,
            "connections": 0, "queue_status": "ok", "queue": 0, "queue_active": 0, "queue_deferred": 0,
            "queue_hold": 0, "cores": 2, "load_average": [0.1, 0.1, 0.1], "cpu_per_core": [10.0, 10.0],
        }  # fmt: skip
        fields.update(values)
        return LoadSample.objects.create(taken_at=at, **fields)

    return make


# --- DNS block lists ---------------------------------------------------------------------------------


@pytest.fixture
def dns_server(settings) -> Callable:
    """Start the real test DNS server (tests/dnsserver.py) and point the checker at it."""
    from tests.dnsserver import DNSServer

    servers: list[DNSServer] = []

    def start(zones, **options) -> DNSServer:
        server = DNSServer(zones, **options).start()
        servers.append(server)
        settings.DNSBL_NAMESERVERS = [server.address]
        # Generous enough that a loaded 2-core CI machine does not turn a late answer into a timeout
        # (the server shares this process's GIL); a silent zone costs one lifetime.
        settings.DNSBL_TIMEOUT = 0.5
        settings.DNSBL_LIFETIME = 1.5
        settings.DNSBL_MAX_IN_FLIGHT = 50
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def dnsbl_catalogue(db) -> Callable:
    """Replace the loaded catalogue with test zones (served by ``dns_server``); returns them by zone name."""
    from monitoring.models.dnsbl import DnsblZone

    def make(*specs: dict) -> dict:
        DnsblZone.objects.all().delete()
        zones = {}
        for position, spec in enumerate(specs):
            fields = {"name": spec["zone"], "kind": "ip", "codes": {"127.0.0.2": "Spam source"}, **spec}
            zones[spec["zone"]] = DnsblZone.objects.create(position=position, **fields)
        return zones

    return make
