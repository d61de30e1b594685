"""The client's address behind nginx: lockout per address and the audit log need the browser's, not nginx's."""

from __future__ import annotations

from captcha.models import CaptchaStore
from django.test import RequestFactory, override_settings
from django.urls import reverse

from accounts import lockout
from accounts.audit import client_ip
from accounts.models import OrganisationSettings
from tests.conftest import PASSWORD


def request(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_it_takes_the_address_nginx_appended_behind_a_trusted_proxy():
    # nginx's $proxy_add_x_forwarded_for appends the peer it saw after whatever the browser sent.
    assert client_ip(request("127.0.0.1", "203.0.113.9")) == "203.0.113.9"
    assert client_ip(request("127.0.0.1", "10.6.6.6, 203.0.113.9")) == "203.0.113.9"
    assert client_ip(request("::1", "2001:db8::5")) == "2001:db8::5"


def test_it_ignores_forwarded_for_from_anyone_else():
    assert client_ip(request("198.51.100.7", "203.0.113.9")) == "198.51.100.7"


def test_it_falls_back_to_the_peer_on_a_malformed_header():
    assert client_ip(request("127.0.0.1", "not an address")) == "127.0.0.1"
    assert client_ip(request("127.0.0.1", "")) == "127.0.0.1"


@override_settings(TRUSTED_PROXIES=["10.0.0.2"])
def test_the_trusted_proxies_are_a_setting():
    assert client_ip(request("10.0.0.2", "203.0.113.9")) == "203.0.113.9"
    assert client_ip(request("127.0.0.1", "203.0.113.9")) == "127.0.0.1"


def via_nginx(client, email, browser_ip, password="wrong password!"):  # noqa: S107
    """A sign-in attempt arriving through nginx on 127.0.0.1; a person solves the CAPTCHA when asked."""
    extra = {}
    if lockout.captcha_required(email, browser_ip):
        key = CaptchaStore.generate_key()
        extra = {"captcha_0": key, "captcha_1": CaptchaStore.objects.get(hashkey=key).response}
    data = {"username": email, "password": password, **extra}
    return client.post(reverse("login"), data, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=browser_ip)


def test_failures_of_one_browser_behind_nginx_do_not_lock_out_everyone(client, employee):
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"lockout_threshold": 5})
    for n in range(5):
        via_nginx(client, f"nobody{n}@example.com", "203.0.113.66")
    assert lockout.is_locked("x@example.com", "203.0.113.66")
    # Another person coming through the same nginx signs in as usual.
    assert via_nginx(client, employee.email, "198.51.100.20", password=PASSWORD).status_code == 302
