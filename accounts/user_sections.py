"""Sections other apps add to a person's page for IT staff (``user_detail``), registered from their ready().

Accounts owns people and never imports the apps built on them; an app that keeps facts about a person
(the sending guard: a "possibly compromised" banner, limits, addresses) registers a function here. The
function gets the person and returns a ``Section`` (a template and its context) or None when it has
nothing to show; "top" sections come before the page's own cards (banners), "bottom" ones after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Section:
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    place: str = "bottom"  # top | bottom


Provider = Callable[[Any], "list[Section]"]

PROVIDERS: list[Provider] = []


def register(provider: Provider) -> None:
    """Add an app's provider (once: ``ready()`` may run again in a test that reloads the apps)."""
    if provider not in PROVIDERS:
        PROVIDERS.append(provider)


def sections_for(person: Any) -> dict[str, list[Section]]:
    """{"top": [...], "bottom": [...]}: every registered app's sections about ``person``."""
    found: dict[str, list[Section]] = {"top": [], "bottom": []}
    for provider in PROVIDERS:
        for section in provider(person):
            found[section.place].append(section)
    return found
