"""The status registry: the one place where the two monitoring apps meet (home page and executive summary)."""

from __future__ import annotations

import pytest

from monitoring import status
from monitoring.dnsbl import report
from monitoring.sending import report as sending_report
from monitoring.serverload import alerts, drift


def test_each_app_registers_its_providers_in_the_order_of_installed_apps():
    registered = status.PROVIDERS
    assert registered == [report.status_line, alerts.status_line, drift.status_line, sending_report.status_line]


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


@pytest.mark.django_db
def test_executives_read_the_plain_sentence_on_home_and_it_staff_the_technical_one(client, login, executive, it_staff):
    login(client, executive)
    body = client.get("/").content.decode()
    assert "We cannot check the mail server&#x27;s load at the moment" in body
    assert "No load sample yet" not in body
    login(client, it_staff)
    body = client.get("/").content.decode()
    assert "No load sample yet: the worker and beat must be running." in body
