"""Sign-in: password step, OTP step (TOTP or backup code), session rotation, reuse, next URLs, logout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import backup_codes
from accounts.models import AuditEvent
from portal.models import OutboxMessage
from tests.conftest import PASSWORD, totp_code

NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def device(employee):
    return TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)


def password_step(client, user, password=PASSWORD, **extra):
    return client.post(reverse("login"), {"username": user.email, "password": password, **extra})


def code_step(client, code, **extra):
    return client.post(reverse("otp_verify"), {"code": code, **extra})


def test_it_asks_for_a_code_after_the_password_without_signing_in(client, employee, device):
    client.get(reverse("login"))
    client.session.save()
    planted = client.session.session_key
    response = password_step(client, employee)
    assert client.session.session_key != planted
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("otp_verify"))
    assert "_auth_user_id" not in client.session
    # Between the steps nothing else opens.
    assert client.get(reverse("home")).status_code == 302
    assert reverse("login") in client.get(reverse("home"))["Location"]


def test_it_signs_in_with_the_current_code_and_rotates_the_session_key(client, employee, device):
    password_step(client, employee)
    key_between_steps = client.session.session_key
    response = code_step(client, totp_code(device))
    assert response.status_code == 302 and response["Location"] == reverse("home")
    session = client.session
    assert session.session_key != key_between_steps
    assert session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert abs(session["otp_verified_at"] - datetime.now().timestamp()) < 5
    assert client.get(reverse("home")).status_code == 200
    event = AuditEvent.objects.filter(action="login.success").get()
    assert event.actor == employee and event.details["method"] == "totp"


def test_a_reused_code_is_refused_audited_and_the_user_is_told(client, employee, device):
    with time_machine.travel(NOW, tick=False):
        password_step(client, employee)
        code = totp_code(device)
        assert code_step(client, code).status_code == 302
        client.post(reverse("logout"))
        password_step(client, employee)
        response = code_step(client, code)
    assert response.status_code == 200
    assert "already been used" in response.content.decode()
    assert "_auth_user_id" not in client.session
    reuse = AuditEvent.objects.get(action="otp.reuse")
    assert reuse.actor == employee and code not in str(reuse.details)
    alert = OutboxMessage.objects.get(kind="accounts-otp-reuse")
    assert alert.to == [employee.email] and "already been used" in alert.body_text


def test_the_next_code_works_after_a_reuse(client, employee, device):
    with time_machine.travel(NOW, tick=False):
        password_step(client, employee)
        code_step(client, totp_code(device))
        client.post(reverse("logout"))
    with time_machine.travel(NOW + timedelta(seconds=31), tick=False):
        password_step(client, employee)
        assert code_step(client, totp_code(device)).status_code == 302


@pytest.mark.parametrize(
    ("code", "why"),
    [("000000", "wrong"), ("12345", "too short"), ("12ab!x", "malformed"), ("", "empty")],
)
def test_it_refuses_bad_codes(client, employee, device, code, why):
    with time_machine.travel(NOW, tick=False):
        password_step(client, employee)
        if totp_code(device) == code:
            pytest.skip("the wrong code happens to be the right one")
        response = code_step(client, code)
    assert response.status_code == 200, why
    assert "_auth_user_id" not in client.session


def test_it_refuses_an_expired_code(client, employee, device):
    with time_machine.travel(NOW, tick=False):
        old = totp_code(device, at=NOW.timestamp() - 120)  # four steps ago; one step of drift is allowed
        password_step(client, employee)
        response = code_step(client, old)
    assert response.status_code == 200 and "not valid" in response.content.decode()
    assert AuditEvent.objects.filter(action="otp.failure").count() == 1


def test_wrong_codes_are_throttled_by_django_otp(client, employee, device):
    with time_machine.travel(NOW, tick=False):
        password_step(client, employee)
        good = totp_code(device)
        bad = f"{(int(good) + 1) % 1_000_000:06d}"
        wrong = code_step(client, bad)
        # The message says how long to wait, and the box is empty for the next code.
        assert "That code is not valid. Wait 1 second, then enter" in wrong.content.decode()
        assert wrong.context["form"]["code"].value() is None and bad not in wrong.content.decode()
        # Straight after a failure even the right code must wait (1, 2, 4 ... seconds).
        response = code_step(client, good)
        assert "Too many wrong codes. Wait 1 second, then enter the newest code" in response.content.decode()
    with time_machine.travel(NOW + timedelta(seconds=2), tick=False):
        wrong = code_step(client, bad)
        assert "Wait 2 seconds" in wrong.content.decode()
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        assert code_step(client, totp_code(device)).status_code == 302


def test_a_backup_code_signs_in_once(client, employee, device):
    codes = backup_codes.regenerate(employee)
    password_step(client, employee)
    assert code_step(client, codes[0].upper()).status_code == 302
    assert client.session[DEVICE_ID_SESSION_KEY].startswith("accounts.backupcodedevice/")
    assert client.get(reverse("home")).status_code == 200
    client.post(reverse("logout"))
    password_step(client, employee)
    response = code_step(client, codes[0])
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert backup_codes.remaining(employee) == 9


def test_the_pending_step_expires(client, employee, device):
    with time_machine.travel(NOW, tick=False):
        password_step(client, employee)
    with time_machine.travel(NOW + timedelta(minutes=6), tick=False):
        response = code_step(client, totp_code(device))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_and_an_unknown_account_get_the_same_answer(client, employee):
    wrong = password_step(client, employee, password="not the password")
    unknown = client.post(reverse("login"), {"username": "nobody@example.com", "password": "whatever it is"})
    assert wrong.status_code == unknown.status_code == 200
    assert wrong.context["form"].non_field_errors() == unknown.context["form"].non_field_errors()
    assert AuditEvent.objects.filter(action="login.failure").count() == 2


def test_an_inactive_user_cannot_sign_in(client, employee, device):
    employee.is_active = False
    employee.save()
    assert password_step(client, employee).status_code == 200


def test_it_follows_next_only_to_the_portal_or_webmail(client, employee, device, settings):
    settings.GATEWAY_ALLOWED_HOSTS = ["mail.example.com"]
    with time_machine.travel(NOW, tick=False):
        password_step(client, employee, next="https://evil.example.net/")
        assert code_step(client, totp_code(device), next="https://evil.example.net/")["Location"] == reverse("home")
        client.post(reverse("logout"))
    with time_machine.travel(NOW + timedelta(seconds=31), tick=False):
        password_step(client, employee)
        response = code_step(client, totp_code(device), next="https://mail.example.com/?_task=mail")
    assert response["Location"] == "https://mail.example.com/?_task=mail"


def test_logout_ends_the_session(client, login, employee):
    login(client, employee)
    assert client.get(reverse("home")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert reverse("login") in client.get(reverse("home"))["Location"]
    assert AuditEvent.objects.filter(action="logout", actor=employee).exists()


def test_a_session_without_the_otp_step_is_sent_to_it(client, employee, device):
    client.force_login(employee)
    response = client.get(reverse("otp_tokens"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("otp_verify"))
    assert code_step(client, totp_code(device)).status_code == 302
    assert client.get(reverse("otp_tokens")).status_code == 200


def test_signed_in_users_are_sent_on_from_the_login_page(client, login, employee):
    login(client, employee)
    assert client.get(reverse("login"))["Location"] == reverse("home")


def test_a_reset_between_the_two_steps_leads_to_enrolment(client, employee, device, it_staff):
    from accounts import enrolment

    password_step(client, employee)
    enrolment.reset_tokens(employee, actor=it_staff, reason="phone lost")
    response = client.get(reverse("otp_verify"))
    assert response["Location"].startswith(reverse("otp_enrol"))
    assert client.get(reverse("otp_enrol")).status_code == 200
