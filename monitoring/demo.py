"""The monitoring part of the demo organisation."""

from __future__ import annotations


def load() -> list[str]:
    """Load demo data; return lines to print."""
    lines: list[str] = []
    lines += _load_dnsbl()
    return lines


# --- DNS block lists -------------------------------------------------------------------------------
def _load_dnsbl() -> list[str]:
    """The demo mail server's addresses (documentation ranges); the first real sweep runs within a minute."""
    from monitoring.models.dnsbl import MonitoredAddress

    made = 0
    for value, label in [
        ("192.0.2.25", "mail server (IPv4)"),
        ("2001:db8::25", "mail server (IPv6)"),
        ("example.com", "mail domain"),
    ]:
        made += MonitoredAddress.objects.get_or_create(value=value, defaults={"label": label})[1]
    return [f"DNS block lists: {MonitoredAddress.objects.count()} monitored addresses ({made} new)"]
