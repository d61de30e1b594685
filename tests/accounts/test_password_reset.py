"""Password reset by email: same answer for unknown addresses, single-use link, and the OTP step still follows."""

from __future__ import annotations

import re

from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent
from portal.models import OutboxMessage
from tests.conftest import totp_code

NEW_PASSWORD = "brand new password 2026"


def request_reset(client, email):
    return client.post(reverse("password_reset"), {"email": email})


def reset_link(email) -> str:
    body = OutboxMessage.objects.get(kind="accounts-password-reset", to=[email]).body_text
    return re.search(r"http://localhost:8000(/accounts/password-reset/\S+/)", body).group(1)


def test_known_and_unknown_addresses_get_the_same_answer(client, employee):
    known = request_reset(client, employee.email)
    unknown = request_reset(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("password_reset_done")
    assert OutboxMessage.objects.filter(kind="accounts-password-reset").count() == 1


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


def test_a_reset_signs_out_the_other_sessions(client, login, employee):
    from django.test import Client

    other = Client()
    login(other, employee)
    assert other.get(reverse("home")).status_code == 200
    request_reset(client, employee.email)
    link = reset_link(employee.email)
    page = client.get(link, follow=True)
    client.post(page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert reverse("login") in other.get(reverse("home"))["Location"]


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(client, login, employee):
    from django.test import Client

    from tests.conftest import PASSWORD

    other = Client()
    login(other, employee)
    login(client, employee)
    data = {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert client.post(reverse("password_change"), data).status_code == 200
    response = client.post(reverse("password_change"), {**data, "old_password": PASSWORD})
    assert response["Location"] == reverse("otp_tokens")
    assert client.get(reverse("home")).status_code == 200  # this session stays signed in and verified
    assert reverse("login") in other.get(reverse("home"))["Location"]
    assert AuditEvent.objects.filter(action="password.changed", actor=employee).exists()
    notice = OutboxMessage.objects.get(kind="accounts-credentials-changed")
    assert notice.subject == "Security notice: your password was changed" and notice.to == [employee.email]


def test_short_and_common_passwords_are_refused(client, make_user, it_staff):
    from accounts import invitations

    user = make_user("new@example.com", password=None)
    _, token = invitations.invite(user, actor=it_staff)
    url = reverse("invitation_accept", kwargs={"token": token})
    for weak in ("short pw 1", "password1234", "123456789012"):
        response = client.post(url, {"new_password1": weak, "new_password2": weak})
        assert response.status_code == 200 and response.context["form"].errors
    user.refresh_from_db()
    assert not user.has_usable_password()
