"""GET /gateway/signin: where nginx sends a browser that webmail refused."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import otp_sign_in

URL = "/gateway/signin"
WEBMAIL = "https://mail.example.com/?_task=mail&_mbox=INBOX"


@pytest.fixture(autouse=True)
def webmail_host(settings):
    settings.GATEWAY_ALLOWED_HOSTS = ["mail.example.com"]


def login_next(response) -> str:
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/accounts/login/"
    return parse_qs(location.query)["next"][0]


def test_it_sends_an_anonymous_browser_to_sign_in_with_the_raw_webmail_url(client, db):
    # nginx puts $request_uri after next= unencoded: the whole rest of the query is the URL.
    assert login_next(client.get(f"{URL}?next={WEBMAIL}")) == WEBMAIL


def test_it_accepts_an_encoded_next_too(client, db):
    assert login_next(client.get(URL, {"next": WEBMAIL})) == WEBMAIL


def test_it_drops_a_next_that_points_elsewhere(client, db):
    assert login_next(client.get(f"{URL}?next=https://evil.example.net/")) == "/"


def test_it_sends_a_verified_user_straight_back_to_webmail(client, employee):
    otp_sign_in(client, employee)
    response = client.get(f"{URL}?next={WEBMAIL}")
    assert (response.status_code, response.headers["Location"]) == (302, WEBMAIL)


def test_it_never_sends_a_verified_user_to_another_host(client, employee):
    otp_sign_in(client, employee)
    response = client.get(f"{URL}?next=//evil.example.net/")
    assert (response.status_code, response.headers["Location"]) == (302, "/")


def test_it_offers_a_fresh_sign_in_when_the_gateway_age_has_passed(client, employee, settings):
    settings.GATEWAY_MAX_AGE = 3600  # shorter than the portal session itself
    with time_machine.travel(1_900_000_000, tick=False):
        otp_sign_in(client, employee)
    with time_machine.travel(1_900_000_000 + settings.GATEWAY_MAX_AGE + 1, tick=False):
        response = client.get(f"{URL}?next={WEBMAIL}")
        assert response.status_code == 200
        assert b"Your webmail sign-in has expired." in response.content
        assert b"Sign in again" in response.content
        response = client.post(f"{URL}?next={WEBMAIL}")
    assert login_next(response) == WEBMAIL
    assert "_auth_user_id" not in client.session


def test_it_tells_a_user_without_a_token_to_enrol_first(client, employee):
    otp_sign_in(client, employee)
    TOTPDevice.objects.filter(user=employee).delete()
    response = client.get(f"{URL}?next={WEBMAIL}")
    assert response.status_code == 200
    assert b"you have no token yet" in response.content


def test_it_refuses_a_role_that_may_not_use_webmail(client, executive, settings):
    settings.GATEWAY_ROLES = ["employee"]
    otp_sign_in(client, executive)
    response = client.get(f"{URL}?next={WEBMAIL}")
    assert response.status_code == 403
    assert b"may not use webmail" in response.content
