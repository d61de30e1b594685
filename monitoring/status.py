"""Plain-words status of each monitoring area, for the home page and the executive summary.

This is the one place where the two monitoring apps meet, and they meet only through this
registry: ``dnsbl`` and ``serverload`` never import each other or this module's callers. Each
app registers its provider(s) in ``AppConfig.ready()``; a provider returns one ``StatusLine``
built from stored rows only (no I/O), in a constant number of queries, with its news twice: ``text`` for
IT staff and ``plain`` for executives (whether mail is at risk and what IT is doing about it). Lines come in the order
of ``INSTALLED_APPS``, then of registration.
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
    link_text: str = ""  # the words of that link on the home page (default: the area)
    # The same news for someone who is not technical: is mail at risk, and what IT is doing about it
    # ("We cannot check the block lists at the moment; IT has been told and is on it."). The executive
    # summary and its monthly email show this; ``text`` is the technical detail for IT staff.
    plain: str = ""

    @property
    def sentence(self) -> str:
        """The plain sentence, or the technical one for an area that has none."""
        return self.plain or self.text


Provider = Callable[[], StatusLine]

# Filled by the apps' ready(): a function returning its area's StatusLine.
PROVIDERS: list[Provider] = []


def register(provider: Provider) -> None:
    """Add an area's provider (once: ``ready()`` may run again in a test that reloads the apps)."""
    if provider not in PROVIDERS:
        PROVIDERS.append(provider)


def status_lines() -> list[StatusLine]:
    return [provider() for provider in PROVIDERS]
