"""Plain-words status of each monitoring area, for the home page and the executive summary.

Each area (DNS block lists, server load, configuration drift) contributes one
``StatusLine`` built from stored rows only (no I/O), in a constant number of queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StatusLine:
    area: str  # "DNS block lists", "Server load", "Configuration"
    status: str  # ok | warning | critical | unknown
    text: str  # one sentence in plain words
    url_name: str = ""  # where IT staff / executives read more


# Filled by each area's module: a function returning its StatusLine.
PROVIDERS: list[Callable[[], StatusLine]] = []


def status_lines() -> list[StatusLine]:
    return [provider() for provider in PROVIDERS]


# --- DNS block lists ---------------------------------------------------------------------------------
def _dnsbl_status() -> StatusLine:
    from monitoring.dnsbl_report import status_line

    return status_line()


PROVIDERS.append(_dnsbl_status)


# --- Server load and configuration drift -------------------------------------------------------------
def _load_status() -> StatusLine:
    from monitoring.alerts import status_line

    return status_line()


def _drift_status() -> StatusLine:
    from monitoring.drift import status_line

    return status_line()


PROVIDERS.extend([_load_status, _drift_status])
