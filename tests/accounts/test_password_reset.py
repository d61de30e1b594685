"""Password reset by email: same answer for unknown addresses, single-use link, and the OTP step still follows."""

from __future__ import annotations

import re

from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AccountEmail, AuditEvent
from tests.conftest import totp_code

NEW_PASSWORD = "brand new password 2026"


def request_reset(client, email):
    return client.post(reverse("password_reset"), {"email": email})


def reset_link(email) -> str:
    body = AccountEmail.objects.get(kind="password-reset", to=[email]).body_text
    return re.search(r"http://localhost:8000(/accounts/password-reset/\S+/)", body).group(1)


def test_known_and_unknown_addresses_get_the_same_answer(client, employee):
    known = request_reset(client, employee.email)
    unknown = request_reset(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("password_reset_done")
    assert AccountEmail.objects.filter(kind="password-reset").count() == 1


def test_the_link_sets_a_new_password_but_does_not_sign_in(client, employee):
    device = TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)
    request_reset(client, employee.email)
    link = reset_link(employee.email)
    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response["Location"] == reverse("password_reset_complete")
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="password.reset", actor=employee).exists()
    # Signing in with the new password still asks for the code.
    response = client.post(reverse("login"), {"username": employee.email, "password": NEW_PASSWORD})
    assert response["Location"].startswith(reverse("otp_verify"))
    assert client.get(reverse("home")).status_code == 302
    assert client.post(reverse("otp_verify"), {"code": totp_code(device)})["Location"] == reverse("home")


def test_the_link_works_once(client, employee):
    request_reset(client, employee.email)
    link = reset_link(employee.email)
    first = client.get(link, follow=True)
    client.post(first.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    again = client.get(link, follow=True)
    assert not again.context["validlink"]
