"""Soft lockout (ASVS 4.0.3 V2.2.1): CAPTCHA and growing waits per account, a late hard lock, lifting it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import time_machine
from captcha.models import CaptchaStore
from django.urls import reverse

from accounts import lockout
from accounts.models import AuditEvent, OrganisationSettings, SignInFailure
from portal.models import OutboxMessage
from tests.conftest import PASSWORD

NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def solve(response) -> dict:
    """What a person reads from the picture on ``response``'s form: the stored answer for its key."""
    key = re.search(r'name="captcha_0" value="([0-9a-f]+)"', response.content.decode()).group(1)
    return {"captcha_0": key, "captcha_1": CaptchaStore.objects.get(hashkey=key).response}


def attempt(client, email, password="wrong password!", ip="192.0.2.10", **extra):  # noqa: S107
    """One sign-in as a person makes it: open the form, solve the picture if there is one, send."""
    form = client.get(reverse("login"), REMOTE_ADDR=ip)
    data = {"username": email, "password": password, **extra}
    if 'name="captcha_0"' in form.content.decode() and "captcha_0" not in extra:
        data |= solve(form)
    response = client.post(reverse("login"), data, REMOTE_ADDR=ip)
    if "Type the characters in the picture" in response.content.decode() and "captcha_0" not in extra:
        # The picture became needed after the form was opened: the person types it and sends again.
        data = {"username": email, "password": password, **solve(response)}
        response = client.post(reverse("login"), data, REMOTE_ADDR=ip)
    return response


def wait_asked(response) -> int:
    match = re.search(r"Wait (\d+) seconds?", response.content.decode())
    return int(match.group(1)) if match else 0


def fail_until_locked(client, email, ip="192.0.2.10", start=NOW) -> datetime:
    """Wrong passwords as fast as the portal allows, until the account is locked; the time it happened."""
    now = start
    for _ in range(200):
        with time_machine.travel(now, tick=False):
            response = attempt(client, email, ip=ip)
        if "This account is locked" in response.content.decode():
            return now
        now += timedelta(seconds=wait_asked(response))
    raise AssertionError("the account never locked")


def test_it_asks_for_a_captcha_after_three_failures(client, employee):
    with time_machine.travel(NOW, tick=False):
        for _ in range(2):
            assert "captcha" not in attempt(client, employee.email).context["form"].fields
        response = attempt(client, employee.email)
    assert "captcha" in response.context["form"].fields
    assert 'class="captcha"' in response.content.decode()
    assert "Email address or password is not correct. Too many failed tries for this account. Wait 1 second" in (
        response.content.decode()
    )
    with time_machine.travel(NOW + timedelta(seconds=2), tick=False):
        # The right password without the picture code does not sign in.
        response = client.post(
            reverse("login"), {"username": employee.email, "password": PASSWORD, "captcha_0": "", "captcha_1": ""}
        )
        assert response.status_code == 200 and "_auth_user_id" not in client.session
        # With it, it does.
        assert attempt(client, employee.email, password=PASSWORD).status_code == 302


def test_each_further_failure_waits_longer_up_to_a_minute(client, employee):
    org = OrganisationSettings.load()
    assert [lockout.delay_after(n, org) for n in range(1, 12)] == [0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    for second, waits in ((0, 0), (0, 0), (0, 1), (1, 2), (3, 4)):
        with time_machine.travel(NOW + timedelta(seconds=second), tick=False):
            assert wait_asked(attempt(client, employee.email)) == waits
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        # Too early: not even checked, not counted, and the right password does not get in either.
        response = attempt(client, employee.email, password=PASSWORD)
        assert "Wait 2 seconds" in response.content.decode() and response.status_code == 200
        assert AuditEvent.objects.filter(action="login.throttled").count() == 1
        assert lockout.account_state(employee.email).failures == 5
    with time_machine.travel(NOW + timedelta(seconds=7), tick=False):
        assert attempt(client, employee.email, password=PASSWORD).status_code == 302


def test_a_wrong_captcha_does_not_sign_in_and_is_not_a_failure(client, employee):
    with time_machine.travel(NOW, tick=False):
        for _ in range(3):
            attempt(client, employee.email)
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        response = attempt(client, employee.email, password=PASSWORD, captcha_0="nokey", captcha_1="ZZZZ")
        assert response.status_code == 200 and "_auth_user_id" not in client.session
        assert "Invalid CAPTCHA" in response.content.decode()
        assert lockout.account_state(employee.email).failures == 3


def test_the_captcha_image_is_served_from_the_portal(client, db):
    key = CaptchaStore.generate_key()
    response = client.get(reverse("captcha-image", kwargs={"key": key}))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


def test_a_hard_lock_comes_only_after_many_failures_and_tells_the_person(client, employee, it_staff):
    org = OrganisationSettings.load()
    locked_at = fail_until_locked(client, employee.email)
    # As fast as the portal allowed, that took minutes, not seconds.
    assert locked_at - NOW > timedelta(minutes=8)
    with time_machine.travel(locked_at, tick=False):
        assert lockout.account_state(employee.email).failures == org.hard_lock_after == 20
        response = attempt(client, employee.email, password=PASSWORD, ip="198.51.100.7")
    assert "This account is locked after too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    lock = AuditEvent.objects.get(action="login.lockout")
    assert lock.target == employee.email and lock.details["account_failures"] == 20
    notice = OutboxMessage.objects.get(kind="accounts-account-locked")
    assert notice.to == [employee.email] and "/accounts/password-reset/" in notice.body_text
    alert = OutboxMessage.objects.get(kind="accounts-lockout", channel=None)
    assert alert.to == [it_staff.email]


def test_the_lock_ends_after_the_window(client, employee):
    locked_at = fail_until_locked(client, employee.email)
    with time_machine.travel(locked_at + timedelta(minutes=14), tick=False):
        assert lockout.account_state(employee.email).locked
    with time_machine.travel(locked_at + timedelta(minutes=16), tick=False):
        assert not lockout.account_state(employee.email).locked
        assert attempt(client, employee.email, password=PASSWORD).status_code == 302


def test_unknown_accounts_are_treated_the_same_way(client, db):
    locked_at = fail_until_locked(client, "nobody@example.com")
    with time_machine.travel(locked_at, tick=False):
        response = attempt(client, "nobody@example.com", ip="192.0.2.51")
    assert "This account is locked" in response.content.decode()
    # No account, nobody to email; IT still hears of it.
    assert not OutboxMessage.objects.filter(kind="accounts-account-locked").exists()


def test_a_lock_made_by_others_does_not_stop_the_code_step(client, employee):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.conftest import totp_code

    device = TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)
    with time_machine.travel(NOW, tick=False):
        assert attempt(client, employee.email, password=PASSWORD).status_code == 302
        # Meanwhile someone else hammers the account from elsewhere until it locks.
        for _ in range(OrganisationSettings.load().hard_lock_after):
            lockout.record_failure(employee.email, "203.0.113.66", SignInFailure.PASSWORD)
        assert lockout.account_state(employee.email).locked
        response = client.post(reverse("otp_verify"), {"code": totp_code(device)})
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_it_staff_see_and_lift_a_lock(client, login, it_staff, employee):
    from django.test import Client

    locked_at = fail_until_locked(Client(), employee.email, ip="192.0.2.77")
    login(client, it_staff)
    with time_machine.travel(locked_at, tick=False):
        page = client.get(reverse("lockouts")).content.decode()
        assert f"Locked account: {employee.email}" in page
        users_page = client.get(reverse("users"), {"locked": "on"})
        assert [u.email for u in users_page.context["page"]] == [employee.email]
        client.post(reverse("lockout_lift"), {"kind": "account", "value": employee.email.upper()})
        assert not lockout.account_state(employee.email).locked
    assert AuditEvent.objects.filter(action="login.lockout_lifted", actor=it_staff, target=employee.email).exists()


def test_a_password_reset_unlocks_the_account(client, employee):
    from tests.accounts.test_password_reset import NEW_PASSWORD, request_reset, reset_link

    locked_at = fail_until_locked(client, employee.email)
    with time_machine.travel(locked_at, tick=False):
        request_reset(client, employee.email)
        page = client.get(reset_link(employee.email), follow=True)
        client.post(page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
        assert not lockout.account_state(employee.email).locked
        assert attempt(client, employee.email, password=NEW_PASSWORD).status_code == 302


def test_thresholds_come_from_the_organisation_settings(client, employee):
    org = OrganisationSettings.load()
    org.hard_lock_after, org.captcha_after_failures = 5, 1
    org.save()
    with time_machine.travel(NOW, tick=False):
        response = attempt(client, employee.email)
    assert "captcha" in response.context["form"].fields
    locked_at = fail_until_locked(client, employee.email, start=NOW + timedelta(seconds=2))
    with time_machine.travel(locked_at, tick=False):
        assert lockout.account_state(employee.email).failures == 5


def test_it_staff_see_and_lift_a_networks_captcha(client, login, it_staff):
    org = OrganisationSettings.load()
    with time_machine.travel(NOW, tick=False):
        for n in range(org.network_captcha_after):
            lockout.record_failure(f"guess{n}@example.com", "198.51.100.23", SignInFailure.PASSWORD)
        assert lockout.network_needs_captcha("198.51.100.200")
        login(client, it_staff)
        assert "CAPTCHA for network: 198.51.100.0/24" in client.get(reverse("lockouts")).content.decode()
        client.post(reverse("lockout_lift"), {"kind": "network", "value": "198.51.100.0/24"})
        assert not lockout.network_needs_captcha("198.51.100.200")
    event = AuditEvent.objects.get(action="login.lockout_lifted")
    assert event.details == {"kind": "network", "failures": org.network_captcha_after}
