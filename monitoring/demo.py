"""The monitoring part of the demo organisation."""

from __future__ import annotations


def load() -> list[str]:
    """Load demo data; return lines to print."""
    return []
