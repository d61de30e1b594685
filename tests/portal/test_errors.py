"""The portal's own 404 and 403 pages with DEBUG on too, and one log line per client error."""

from __future__ import annotations

import io
import logging

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def console():
    """What the portal's console handler writes during the test."""
    (handler,) = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_address_gets_the_portal_404_page(client, login, employee, settings, debug):
    settings.DEBUG = debug
    login(client, employee)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body and "URLconf" not in body and "Using the URLconf" not in body
    assert "Erin" in body  # the signed-in header, as on every page


def test_a_views_404_gets_the_portal_page_with_debug_on(client, login, it_staff, settings):
    settings.DEBUG = True
    login(client, it_staff)
    response = client.get("/accounts/users/999999/")
    assert response.status_code == 404 and "Page not found" in response.content.decode()


def test_a_missing_slash_is_still_redirected_with_debug_on(client, login, employee, settings):
    settings.DEBUG = True
    login(client, employee)
    assert client.get("/policies")["Location"] == "/policies/"


def test_a_403_is_the_portal_page_and_one_log_line(client, login, employee, settings, console):
    settings.DEBUG = True
    login(client, employee)
    response = client.get("/accounts/users/")
    assert response.status_code == 403 and "Not allowed" in response.content.decode()
    client.get("/no/such/page/")
    lines = console.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines if "django.request" in line] == [
        "Forbidden (Permission denied): /accounts/users/",
        "Not Found: /no/such/page/",
    ]
    assert "Traceback" not in console.getvalue()


def test_each_record_is_printed_once():
    """Django's default console handler (on with DEBUG) would print every record a second time."""
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django.request").handlers == []
