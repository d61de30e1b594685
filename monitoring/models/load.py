"""Server load models (samples, rollups, alerts) and configuration drift (watched files, baselines)."""

from __future__ import annotations

__all__: list[str] = []
