"""Rules about the shape of the code that no single feature test would notice breaking."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("portal", "accounts", "policies", "monitoring")
# The apps: monitoring/ is the glue of the monitoring apps below it.
SUB_APPS = {"monitoring.dnsbl": "dnsbl", "monitoring.serverload": "serverload", "monitoring.sending": "sending"}
MONITORING_APPS = ("dnsbl", "serverload", "sending")


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


# --- Imports ----------------------------------------------------------------------------------------


def app_of(module: str) -> str:
    for prefix, app in SUB_APPS.items():
        if module == prefix or module.startswith(prefix + "."):
            return app
    return module.split(".")[0]


@cache
def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, at the top of the file or inside a function."""
    files = {}
    for package in PROJECT_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path

    def known(name: str) -> str | None:
        # "from accounts.models import User" names accounts.models.User: the module is accounts.models.
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets.update(known(f"{base}.{alias.name}") for alias in node.names)
        graph[module] = {target for target in targets if target and target != module}
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected groups of more than one module (Tarjan): every module of one reaches every other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                circles.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def test_the_graph_sees_top_level_and_function_level_imports():
    graph = import_graph()
    assert "portal.models" in graph["portal.outbox"]  # at the top of the file
    assert "portal.tasks" in graph["portal.outbox"]  # inside _publish_sends
    assert "monitoring.dnsbl" in graph  # packages are modules too
    assert app_of("monitoring.dnsbl.sweep") == "dnsbl" and app_of("monitoring.status") == "monitoring"
    assert app_of("monitoring.sending.policy.server") == "sending"


def test_accounts_never_imports_the_sending_guard():
    """The guard reads people and suspends app passwords through accounts; accounts learns of it only from
    what the guard registers in ``ready()`` (user page sections) and connects (``sending_reinstated``)."""
    graph = import_graph()
    assert not {
        f"{module} -> {target}"
        for module, targets in graph.items()
        if app_of(module) == "accounts"
        for target in targets
        if app_of(target) == "sending"
    }


def test_the_circle_finder_finds_a_circle_across_apps():
    graph = {
        "accounts.emails": {"portal.outbox"},
        "portal.outbox": {"accounts.models"},
        "accounts.models": {"accounts.emails"},
    }
    assert import_circles(graph) == [{"accounts.emails", "portal.outbox", "accounts.models"}]


def test_no_import_circle_links_modules_of_different_apps():
    graph = import_graph()
    crossing = {}
    for circle in import_circles(graph):
        if len({app_of(module) for module in circle}) > 1:
            crossing[min(circle)] = sorted(
                f"{module} -> {target}"
                for module in circle
                for target in graph[module] & circle
                if app_of(target) != app_of(module)
            )
    assert crossing == {}, "move the function to the app that owns the data, or register it from ready()"


@pytest.mark.parametrize(
    ("app", "other"), [(app, other) for app in MONITORING_APPS for other in MONITORING_APPS if app != other]
)
def test_the_monitoring_apps_never_import_each_other(app, other):
    graph = import_graph()
    assert not {
        target
        for module, targets in graph.items()
        if app_of(module) == app
        for target in targets
        if app_of(target) == other
    }
