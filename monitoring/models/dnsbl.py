"""DNS block list models (zones, monitored addresses, sweeps, results, listing changes)."""

from __future__ import annotations

__all__: list[str] = []
