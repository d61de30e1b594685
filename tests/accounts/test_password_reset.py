"""Password reset by email: same answer for unknown addresses, single-use link, and the OTP step still follows."""

from __future__ import annotations

import re

from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent
from portal.models import OutboxMessage
from tests.conftest import totp_code

NEW_PASSWORD = "brand new password 2026"


def request_reset(client, email, **extra):
    """Ask for a link, then do what the worker does with the request (accounts.process_password_reset)."""
    response = client.post(reverse("password_reset"), {"email": email}, **extra)
    answer_requests()
    return response


def answer_requests() -> None:
    from accounts import password_reset
    from accounts.models import PasswordResetRequest

    for pk in PasswordResetRequest.objects.filter(processed_at__isnull=True).values_list("pk", flat=True):
        password_reset.process(pk)


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


def test_thirty_requests_send_at_most_a_few_emails_to_one_person(postgres, client, employee):
    from accounts.models import OrganisationSettings, PasswordResetRequest

    OrganisationSettings.objects.update_or_create(pk=1, defaults={"reset_requests_per_hour": 100})
    for n in range(30):
        # From thirty different networks, so only the per-person limit is at work.
        assert request_reset(client, employee.email, REMOTE_ADDR=f"198.51.{n}.7").status_code == 302
    assert OutboxMessage.objects.filter(kind="accounts-password-reset").count() == 3
    outcomes = list(PasswordResetRequest.objects.values_list("outcome", flat=True))
    assert outcomes.count("sent") == 3 and outcomes.count("limited") == 27


def test_one_network_may_ask_a_limited_number_of_times(postgres, client, employee):
    from accounts.models import OrganisationSettings

    limit = OrganisationSettings.load().reset_requests_per_hour
    for n in range(limit):
        assert request_reset(client, f"person{n}@example.com", REMOTE_ADDR="203.0.113.5").status_code == 302
    refused = request_reset(client, employee.email, REMOTE_ADDR="203.0.113.77")  # same /24
    assert refused.status_code == 200 and "Too many password reset requests" in refused.content.decode()
    assert not OutboxMessage.objects.filter(kind="accounts-password-reset").exists()
    assert request_reset(client, employee.email, REMOTE_ADDR="198.51.100.5").status_code == 302


def _statements(queries) -> list[str]:
    """The SQL of ``queries`` with literal values replaced, so two requests for different addresses compare."""
    return [re.sub(r"'[^']*'|\b\d+\b", "?", query["sql"]) for query in queries]


def test_known_and_unknown_addresses_take_the_same_path_and_queries(postgres, client, employee):
    """No timing on the wall clock: the request does exactly the same work whichever address it names."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import OrganisationSettings

    OrganisationSettings.load()  # its first read creates the row: not part of what is compared
    client.get(reverse("password_reset"))
    with CaptureQueriesContext(connection) as known:
        known_response = client.post(reverse("password_reset"), {"email": employee.email})
    with CaptureQueriesContext(connection) as unknown:
        unknown_response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert known_response.status_code == unknown_response.status_code == 302
    assert _statements(known.captured_queries) == _statements(unknown.captured_queries)
    # Nothing about the account is read while answering: the lookup is the worker's.
    assert not any('"accounts_user"' in sql for sql in _statements(known.captured_queries))
    answer_requests()
    assert OutboxMessage.objects.filter(kind="accounts-password-reset").count() == 1
