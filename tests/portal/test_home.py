from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_it_greets_an_employee_without_admin_links(client, login, employee):
    login(client, employee)
    response = client.get("/")
    assert response.status_code == 200
    assert b"Erin" in response.content
    assert b'href="/admin/"' not in response.content


def test_it_shows_it_staff_the_people_counts(client, login, it_staff, employee):
    login(client, it_staff)
    response = client.get("/")
    assert response.status_code == 200
    assert response.context["accounts"]["user_counts"]["Employee"] == 1
    # The admin is a page of the Administration group: its sub-menu links it
    assert b'href="/admin/"' in client.get("/accounts/audit/").content


def test_it_has_a_strict_content_security_policy(client, login, employee):
    login(client, employee)
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_footer_names_the_organisation(client, login, employee, settings):
    settings.ORGANISATION_NAME = "Harbour Tools Ltd"
    login(client, employee)
    assert b"Harbour Tools Ltd" in client.get("/").content
