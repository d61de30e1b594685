"""Deactivation ends every session at once, however it happens; reactivation revives none (issue 14, item 1)."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import User, WebmailSession
from tests.conftest import PASSWORD, otp_sign_in

GATEWAY = "/gateway/auth"


def set_active_on_the_user_page(staff: Client, user: User, active: bool) -> None:
    data = {"role": user.role, **({"is_active": "on"} if active else {})}
    assert staff.post(reverse("user_detail", kwargs={"pk": user.pk}), data).status_code == 302


def set_active_in_the_admin(staff: Client, user: User, active: bool) -> None:
    data = {"email": user.email, "role": user.role, "date_joined_0": "2026-01-01", "date_joined_1": "09:00:00"}
    if active:
        data["is_active"] = "on"
    response = staff.post(reverse("admin:accounts_user_change", args=[user.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors


def set_active_with_save(staff: Client, user: User, active: bool) -> None:
    person = User.objects.get(pk=user.pk)  # as in `manage.py shell`
    person.is_active = active
    person.save()


WAYS = {"user page": set_active_on_the_user_page, "admin": set_active_in_the_admin, "save()": set_active_with_save}


def assert_signed_out(old_cookie: Client) -> None:
    response = old_cookie.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert old_cookie.get(GATEWAY).status_code == 401


@pytest.mark.parametrize("way", WAYS)
def test_deactivation_ends_the_sessions_and_reactivation_revives_none(postgres, client, it_staff, employee, way):
    otp_sign_in(client, it_staff)
    bob = Client()
    otp_sign_in(bob, employee)
    assert bob.get(reverse("home")).status_code == 200
    assert bob.get(GATEWAY).status_code == 200
    session_key = bob.session.session_key

    WAYS[way](client, employee, False)
    assert_signed_out(bob)
    store = import_module(settings.SESSION_ENGINE).SessionStore
    assert not store().exists(session_key)  # gone from the database and the cache
    assert WebmailSession.objects.get(user=employee).end_reason == WebmailSession.EndReason.DEACTIVATED

    WAYS[way](client, employee, True)
    assert_signed_out(bob)
    # Signing in afresh works again.
    fresh = Client()
    otp_sign_in(fresh, User.objects.get(pk=employee.pk))
    assert fresh.get(reverse("home")).status_code == 200


def test_a_session_between_the_password_and_the_code_does_not_survive(postgres, client, it_staff, employee):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.conftest import totp_code

    device = TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)
    bob = Client()
    assert bob.post(reverse("login"), {"username": employee.email, "password": PASSWORD}).status_code == 302
    otp_sign_in(client, it_staff)
    set_active_on_the_user_page(client, employee, False)
    set_active_on_the_user_page(client, employee, True)
    response = bob.post(reverse("otp_verify"), {"code": totp_code(device)})
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert bob.get(reverse("home")).status_code == 302


def test_a_session_that_escaped_deletion_still_does_not_come_back(postgres, employee):
    """Deactivation also changes the session hash: a request that re-cached the session at that moment
    (it read the row before the deactivation committed) leaves a copy that is useless all the same."""
    from django.core.cache import caches

    bob = Client()
    otp_sign_in(bob, employee)
    key, data = bob.session.session_key, dict(bob.session.items())
    set_active_with_save(None, employee, False)
    store = import_module(settings.SESSION_ENGINE).SessionStore
    caches[settings.SESSION_CACHE_ALIAS].set(store.cache_key_prefix + key, data, 3600)
    set_active_with_save(None, employee, True)
    assert_signed_out(bob)


def test_changing_the_password_ends_the_other_sessions_in_the_store(client, login, employee):
    from tests.accounts.test_password_reset import NEW_PASSWORD

    other = Client()
    login(other, employee)
    other_key = other.session.session_key
    login(client, employee)
    data = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert client.post(reverse("password_change"), data).status_code == 302
    store = import_module(settings.SESSION_ENGINE).SessionStore
    assert not store().exists(other_key)
    assert client.get(reverse("home")).status_code == 200
