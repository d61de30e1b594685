"""Lockout per account and per address, the CAPTCHA after three failures, lifting a lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from captcha.models import CaptchaStore
from django.urls import reverse

from accounts import lockout
from accounts.forms import LOCKED
from accounts.models import AuditEvent, OrganisationSettings
from tests.conftest import PASSWORD

NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def attempt(client, email, password="wrong password!", ip="192.0.2.10", **extra):  # noqa: S107
    """One sign-in attempt; once the form asks for the picture code, a person solves it."""
    if lockout.captcha_required(email, ip) and "captcha_0" not in extra:
        key = CaptchaStore.generate_key()
        extra |= {"captcha_0": key, "captcha_1": CaptchaStore.objects.get(hashkey=key).response}
    return client.post(reverse("login"), {"username": email, "password": password, **extra}, REMOTE_ADDR=ip)


def solve_captcha(response) -> dict:
    """What a person reads from the picture: the stored answer for the form's key."""
    key = response.context["form"]["captcha"].value()[0] if response.context["form"].is_bound else None
    key = key or CaptchaStore.objects.order_by("-id").first().hashkey
    return {"captcha_0": key, "captcha_1": CaptchaStore.objects.get(hashkey=key).response}


def test_it_asks_for_a_captcha_after_three_failures(client, employee):
    for _ in range(2):
        assert "captcha" not in attempt(client, employee.email).context["form"].fields
    response = attempt(client, employee.email)
    assert "captcha" in response.context["form"].fields
    assert 'class="captcha"' in response.content.decode()
    # The right password without the picture code does not sign in.
    response = attempt(client, employee.email, password=PASSWORD, captcha_0="", captcha_1="")
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    # With it, it does.
    response = attempt(client, employee.email, password=PASSWORD, **solve_captcha(response))
    assert response.status_code == 302


def test_a_wrong_captcha_does_not_sign_in(client, employee):
    for _ in range(3):
        attempt(client, employee.email)
    response = attempt(client, employee.email, password=PASSWORD, captcha_0="nokey", captcha_1="ZZZZ")
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_the_captcha_image_is_served_from_the_portal(client, db):
    key = CaptchaStore.generate_key()
    response = client.get(reverse("captcha-image", kwargs={"key": key}))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


def test_an_account_locks_after_five_failures_even_from_many_addresses(client, employee):
    with time_machine.travel(NOW, tick=False):
        for n in range(5):
            attempt(client, employee.email, ip=f"192.0.2.{n + 1}")
        response = attempt(client, employee.email, password=PASSWORD, ip="198.51.100.7")
    assert response.status_code == 200 and LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session
    lock = AuditEvent.objects.get(action="login.lockout")
    assert lock.target == employee.email and lock.details["account_failures"] == 5


def test_an_address_locks_after_five_failures_on_different_accounts(client, employee):
    for n in range(5):
        attempt(client, f"guess{n}@example.com", ip="203.0.113.9")
    response = attempt(client, employee.email, password=PASSWORD, ip="203.0.113.9")
    assert LOCKED in response.content.decode()
    # From another address the account (which had no failures of its own) still signs in.
    assert attempt(client, employee.email, password=PASSWORD, ip="203.0.113.10").status_code == 302


def test_the_lock_ends_after_the_window(client, employee):
    with time_machine.travel(NOW, tick=False):
        for _ in range(5):
            attempt(client, employee.email)
    with time_machine.travel(NOW + timedelta(minutes=14), tick=False):
        assert lockout.is_locked(employee.email, None)
    with time_machine.travel(NOW + timedelta(minutes=16), tick=False):
        assert not lockout.is_locked(employee.email, None)


def test_unknown_accounts_lock_the_same_way(client, db):
    for _ in range(5):
        attempt(client, "nobody@example.com", ip="192.0.2.50")
    response = attempt(client, "nobody@example.com", ip="192.0.2.51")
    assert LOCKED in response.content.decode()


def test_wrong_codes_count_towards_the_lock(client, employee):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)
    with time_machine.travel(NOW, tick=False):
        assert attempt(client, employee.email, password=PASSWORD).status_code == 302
    for n in range(5):
        # Past django-otp's growing delay each time, so every attempt is really checked.
        with time_machine.travel(NOW + timedelta(seconds=20 * (n + 1)), tick=False):
            client.post(reverse("otp_verify"), {"code": "000000"}, REMOTE_ADDR="192.0.2.10")
    with time_machine.travel(NOW + timedelta(seconds=130), tick=False):
        assert lockout.is_locked(employee.email, None)
        response = client.post(reverse("otp_verify"), {"code": "000000"}, REMOTE_ADDR="192.0.2.10")
    assert LOCKED in response.content.decode()


def test_it_staff_see_and_lift_a_lock(client, login, it_staff, employee):
    for _ in range(5):
        attempt(client, employee.email, ip="192.0.2.77")
    login(client, it_staff)
    page = client.get(reverse("lockouts")).content.decode()
    assert employee.email in page and "192.0.2.77" in page
    users_page = client.get(reverse("users"), {"locked": "on"})
    assert [u.email for u in users_page.context["page"]] == [employee.email]
    client.post(reverse("lockout_lift"), {"kind": "account", "value": employee.email})
    assert not lockout.is_locked(employee.email, None)
    assert AuditEvent.objects.filter(action="login.lockout_lifted", actor=it_staff, target=employee.email).exists()


def test_thresholds_come_from_the_organisation_settings(client, employee):
    org = OrganisationSettings.load()
    org.lockout_threshold, org.captcha_after_failures = 2, 1
    org.save()
    response = attempt(client, employee.email)
    assert "captcha" in response.context["form"].fields
    # A wrong CAPTCHA never reaches the password check, so it is not a password failure either.
    attempt(client, employee.email, captcha_0="x", captcha_1="y")
    assert lockout.failure_counts(employee.email, None)[0] == 1
    attempt(client, employee.email, **solve_captcha(response))
    assert lockout.is_locked(employee.email, None)
