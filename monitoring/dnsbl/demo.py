"""The DNS block list part of the demo organisation (``manage.py demo``)."""

from __future__ import annotations


def load() -> list[str]:
    """The demo mail server's addresses (documentation ranges); the first real sweep runs within a minute."""
    from monitoring.dnsbl.models import MonitoredAddress

    made = 0
    for value, label in [
        ("192.0.2.25", "mail server (IPv4)"),
        ("2001:db8::25", "mail server (IPv6)"),
        ("example.com", "mail domain"),
    ]:
        made += MonitoredAddress.objects.get_or_create(value=value, defaults={"label": label})[1]
    return [f"DNS block lists: {MonitoredAddress.objects.count()} monitored addresses ({made} new)"]
