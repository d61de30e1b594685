"""Rules about the shape of the code that no single feature test would notice breaking."""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver

PROJECT_PACKAGES = ("portal", "accounts", "policies", "monitoring")


# --- URL names ------------------------------------------------------------------------------------


def _project_url_names(resolver: URLResolver | None = None, namespace: str = "") -> Iterator[str]:
    """``namespace:name`` of every named URL whose view is the project's own (not Django's or a package's)."""
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _project_url_names(pattern, inner)
        elif isinstance(pattern, URLPattern) and pattern.name and pattern.lookup_str.split(".")[0] in PROJECT_PACKAGES:
            yield f"{namespace}{pattern.name}"


def test_url_names_and_namespaces_are_snake_case():
    names = list(_project_url_names())
    assert "gateway_auth" in names  # the walk reaches the project's URLs
    assert [name for name in names if not re.fullmatch(r"([a-z][a-z0-9_]*:)*[a-z][a-z0-9_]*", name)] == []
