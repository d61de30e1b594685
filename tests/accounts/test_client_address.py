"""The client's address behind nginx: lockout per address and the audit log need the browser's, not nginx's."""

from __future__ import annotations

import re

from captcha.models import CaptchaStore
from django.test import RequestFactory, override_settings
from django.urls import reverse

from accounts import lockout
from accounts.audit import client_ip
from accounts.client_address import network_of
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


@override_settings(TRUSTED_PROXIES=["127.0.0.1", "192.0.2.80"])
def test_it_reads_past_a_chain_of_trusted_proxies():
    """Webmail's nginx (192.0.2.80) in front of the portal's: the browser is the entry before both."""
    assert client_ip(request("127.0.0.1", "6.6.6.6, 203.0.113.9, 192.0.2.80")) == "203.0.113.9"
    # A browser cannot pose as a proxy further left: the first untrusted entry from the right wins.
    assert client_ip(request("127.0.0.1", "192.0.2.80, 203.0.113.9")) == "203.0.113.9"
    assert client_ip(request("127.0.0.1", "bogus, 192.0.2.80")) == "192.0.2.80"


@override_settings(TRUSTED_PROXIES=["10.0.0.2"])
def test_the_trusted_proxies_are_a_setting():
    assert client_ip(request("10.0.0.2", "203.0.113.9")) == "203.0.113.9"
    assert client_ip(request("127.0.0.1", "203.0.113.9")) == "127.0.0.1"


def via_nginx(client, email, browser_ip, password="wrong password!"):  # noqa: S107
    """A sign-in attempt arriving through nginx on 127.0.0.1; a person solves the CAPTCHA when shown one."""
    extra = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": browser_ip}
    form = client.get(reverse("login"), **extra).content.decode()
    data = {"username": email, "password": password}
    if 'name="captcha_0"' in form:
        key = re.search(r'name="captcha_0" value="([0-9a-f]+)"', form).group(1)
        data |= {"captcha_0": key, "captcha_1": CaptchaStore.objects.get(hashkey=key).response}
    return client.post(reverse("login"), data, **extra)


def test_failures_of_one_browser_behind_nginx_do_not_reach_everyone(client, employee):
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"network_captcha_after": 5})
    for n in range(5):
        via_nginx(client, f"nobody{n}@example.com", "203.0.113.66")
    assert lockout.network_needs_captcha("203.0.113.66")
    # Another person coming through the same nginx from elsewhere signs in as usual, without a picture.
    assert not lockout.network_needs_captcha("198.51.100.20")
    assert via_nginx(client, employee.email, "198.51.100.20", password=PASSWORD).status_code == 302


def test_failures_count_per_network(settings):
    assert network_of("192.0.2.66") == "192.0.2.0/24"
    assert network_of("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    # An IPv4-mapped IPv6 address is the IPv4 address it carries.
    assert network_of("::ffff:192.0.2.66") == "192.0.2.0/24"
    assert network_of("not an address") == network_of(None) == ""
    settings.CLIENT_NETWORK_IPV4_PREFIX, settings.CLIENT_NETWORK_IPV6_PREFIX = 32, 56
    assert network_of("192.0.2.66") == "192.0.2.66/32"
    assert network_of("2001:db8:1:2:aaaa::1") == "2001:db8:1::/56"


def test_fresh_ipv6_addresses_of_one_network_meet_one_captcha(postgres, client, employee):
    """Each try from a new address of one /64 (every IPv6 customer has endless ones) counts for the /64."""
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"network_captcha_after": 5})
    for n in range(5):
        via_nginx(client, f"guess{n}@example.com", f"2001:db8:1:2::{n + 1:x}")
    page = client.get(reverse("login"), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="2001:db8:1:2::ffff")
    assert 'name="captcha_0"' in page.content.decode()
    other = client.get(reverse("login"), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="2001:db8:1:3::1")
    assert 'name="captcha_0"' not in other.content.decode()


def test_the_webmail_sessions_list_shows_the_address_from_the_trusted_proxy_rule(client, employee):
    """A browser's own X-Real-IP (or X-Forwarded-For to a peer that is not a proxy) is never shown."""
    from accounts.models import WebmailSession
    from tests.conftest import otp_sign_in

    otp_sign_in(client, employee)
    assert client.get("/gateway/auth", REMOTE_ADDR="198.51.100.9", HTTP_X_REAL_IP="6.6.6.6",
                      HTTP_X_FORWARDED_FOR="7.7.7.7").status_code == 200  # fmt: skip
    assert WebmailSession.objects.get().ip_address == "198.51.100.9"
