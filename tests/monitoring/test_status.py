"""The status registry: the one place where the two monitoring apps meet (home page and executive summary)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from monitoring import status
from monitoring.dnsbl import report
from monitoring.serverload import alerts, drift

ROOT = Path(__file__).resolve().parents[2] / "monitoring"


def test_each_app_registers_its_providers_in_the_order_of_installed_apps():
    registered = status.PROVIDERS
    assert registered == [report.status_line, alerts.status_line, drift.status_line]


def test_registering_twice_adds_a_provider_once(monkeypatch):
    monkeypatch.setattr(status, "PROVIDERS", [])
    status.register(report.status_line)
    status.register(report.status_line)
    registered = status.PROVIDERS
    assert registered == [report.status_line]


@pytest.mark.django_db
def test_the_home_page_shows_one_card_per_registered_line(client, login, executive, monkeypatch):
    line = status.StatusLine("Server load", "critical", "CPU above 90 % since 10:02.", "serverload:dashboard", "Load")
    monkeypatch.setattr(status, "PROVIDERS", [lambda: line])
    login(client, executive)
    body = client.get("/").content.decode()
    assert 'data-status-area="Server load"' in body
    assert "CPU above 90 % since 10:02." in body
    assert '<a href="/monitoring/load/">Load</a>' in body
    assert "DNS block lists" not in body


@pytest.mark.django_db
def test_the_home_page_shows_every_area_from_stored_rows(client, login, it_staff):
    login(client, it_staff)
    body = client.get("/").content.decode()
    for area in ("DNS block lists", "Server load", "Configuration"):
        assert f'data-status-area="{area}"' in body
    assert '<a href="/monitoring/dnsbl/">Block list dashboard</a>' in body
    assert '<a href="/monitoring/load/drift/">Configuration drift</a>' in body


@pytest.mark.django_db
def test_employees_get_no_monitoring_cards(client, login, employee):
    login(client, employee)
    assert "data-status-area" not in client.get("/").content.decode()


def _imports(folder: Path) -> set[str]:
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.update([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
    return names


@pytest.mark.parametrize(("app", "other"), [("dnsbl", "serverload"), ("serverload", "dnsbl")])
def test_the_two_apps_never_import_each_other(app, other):
    assert not {name for name in _imports(ROOT / app) if name.startswith(f"monitoring.{other}")}
