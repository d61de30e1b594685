"""The menus: own pages and IT's four groups in the top row, the current group's pages in a sub-menu."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.roles import Role, capabilities_for
from portal.navigation import GROUPS, OWN_PAGES, menu_for

pytestmark = pytest.mark.django_db


class _Person:
    is_authenticated = True
    is_active = True

    def __init__(self, role: str):
        self.role = role


def _can(role: str) -> dict[str, bool]:
    return capabilities_for(_Person(role))


def test_it_groups_it_pages_in_one_short_row():
    menu = menu_for("home", _can(Role.IT_STAFF))
    labels = [item.label for item in menu.top]
    assert labels == [
        "Home", "My policies", "My devices", "My tokens", "People", "Policies", "Monitoring", "Administration",
    ]  # fmt: skip
    assert menu.sub == ()


def test_it_shows_the_group_of_the_current_page_with_the_page_marked():
    menu = menu_for("gateway_user_sessions", _can(Role.IT_STAFF))
    assert menu.section == "People"
    assert [i.label for i in menu.sub if i.current == "page"] == ["Webmail sessions"]
    assert [i.label for i in menu.top if i.current] == ["People"]
    assert [i.current for i in menu.top if i.label == "People"] == ["true"]


def test_it_marks_a_whole_monitoring_area():
    menu = menu_for("serverload:drift_finding", _can(Role.IT_STAFF))
    assert menu.section == "Monitoring"
    assert [i.label for i in menu.sub if i.current] == ["Server load"]


def test_employees_see_their_own_pages_only():
    menu = menu_for("otp_enrol_scan", _can(Role.EMPLOYEE))
    assert [i.label for i in menu.top] == ["Home", "My policies", "My devices", "My tokens"]
    assert [i.label for i in menu.top if i.current] == ["My tokens"]


def test_a_group_with_one_page_shows_as_that_page():
    menu = menu_for("policies:summary", _can(Role.EXECUTIVE))
    assert [i.label for i in menu.top][-2:] == ["Summary", "Monitoring"]
    assert [i.label for i in menu.top if i.current == "page"] == ["Summary"]
    assert menu.sub == ()


def test_every_menu_entry_is_a_page_its_role_may_open():
    for entry in OWN_PAGES + tuple(e for g in GROUPS for e in g.entries):
        reverse(entry.url_name)  # no arguments: reachable from the menu as it is
        assert entry.capability in _can(Role.IT_STAFF)


@pytest.mark.parametrize(
    "url_name", ["users", "invitations", "gateway_sessions", "outbox:messages", "sign_in_settings", "audit_log"]
)
def test_every_it_page_shows_its_group_with_itself_marked(client, login, it_staff, url_name):
    login(client, it_staff)
    html = client.get(reverse(url_name)).content.decode()
    sub = re.search(r'<nav class="sub-nav" aria-label="([^"]+)">(.*?)</nav>', html, re.S)
    assert sub, url_name
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', sub.group(2))
    assert current == [reverse(url_name)]


def test_the_employee_menu_folds_behind_a_button(client, login, employee):
    login(client, employee)
    html = client.get("/").content.decode()
    assert 'class="menu-button" aria-expanded="false" aria-controls="main-menu"' in html
    assert 'id="main-menu"' in html
    assert "sub-nav" not in html


# Addresses that are no page of the menu: the sign-in steps, files and feeds, and machine endpoints
NOT_IN_THE_MENU = {
    "healthz", "login", "otp_verify", "logout", "reauth", "password_reset", "password_reset_done",
    "password_reset_confirm", "password_reset_complete", "invitation_accept", "otp_backup_codes_download",
    "otp_backup_codes_regenerate", "device_certificate_download", "device_profile", "device_ca_certificates",
    "device_ca_crls", "device_ca_crl", "otp_coverage_csv", "audit_log_csv", "gateway_auth", "gateway_signin",
    "policies:summary_csv", "policies:summary_unsubscribe", "autoconfig_well_known", "autoconfig",
    "captcha_refresh",
}  # fmt: skip


def _portal_url_names():
    from django.urls import get_resolver
    from django.urls.resolvers import URLResolver

    def walk(resolver, namespace=None):
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace != "admin":
                    yield from walk(pattern, pattern.namespace or namespace)
            elif pattern.name and pattern.callback.__module__.split(".")[0] in {
                "accounts",
                "policies",
                "portal",
                "monitoring",
            }:
                yield f"{namespace}:{pattern.name}" if namespace else pattern.name

    return set(walk(get_resolver()))


def test_every_page_has_its_place_in_the_menu():
    """A new page must say where it belongs (portal/navigation.py), or be listed here as no page."""
    can = _can(Role.IT_STAFF)
    homeless = sorted(
        view
        for view in _portal_url_names() - NOT_IN_THE_MENU
        if not any(item.current for item in (*menu_for(view, can).top, *menu_for(view, can).sub))
    )
    assert homeless == []
    for view in _portal_url_names():
        menu = menu_for(view, can)
        assert len([i for i in menu.top if i.current]) <= 1 and len([i for i in menu.sub if i.current]) <= 1, view
