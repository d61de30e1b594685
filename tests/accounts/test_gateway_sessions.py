"""IT staff's list of webmail sessions and "end session"."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.cached_db import SessionStore
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, WebmailSession
from tests.accounts.test_gateway_auth import URL as AUTH_URL
from tests.conftest import otp_sign_in


@pytest.fixture
def webmail_client(employee):
    """Erin, signed in with OTP, who has opened webmail once."""
    client = Client()
    otp_sign_in(client, employee)
    assert client.get(AUTH_URL, HTTP_USER_AGENT="Thunderbird-ish").status_code == 200
    return client


@pytest.fixture
def staff_client(client, it_staff):
    otp_sign_in(client, it_staff)
    return client


def test_it_lists_a_users_webmail_sessions(staff_client, webmail_client, employee):
    response = staff_client.get(reverse("gateway_user_sessions", kwargs={"user_id": employee.pk}))
    assert response.status_code == 200
    assert b"Webmail sessions of Erin Employee" in response.content
    assert b"Thunderbird-ish" in response.content
    assert b"End session" in response.content


def test_it_lists_everyones_sessions(staff_client, webmail_client):
    response = staff_client.get(reverse("gateway_sessions"))
    assert response.status_code == 200
    assert b"erin@example.com" in response.content


def test_ending_a_session_closes_webmail_and_the_portal_at_once(staff_client, webmail_client, it_staff):
    row = WebmailSession.objects.get()
    response = staff_client.post(reverse("gateway_session_end", kwargs={"pk": row.pk}))
    assert response.status_code == 302
    assert webmail_client.get(AUTH_URL).status_code == 401
    assert SessionStore(session_key=row.session_key).load() == {}
    row.refresh_from_db()
    assert (row.state, row.end_reason, row.ended_by) == ("ended", "ended_by_staff", it_staff)
    event = AuditEvent.objects.get(action="gateway.session_ended")
    assert (event.actor, event.target) == (it_staff, "erin@example.com")
    page = staff_client.get(response.headers["Location"])
    assert b"Ended by IT staff" in page.content
    assert b"End session" not in page.content


def test_ending_it_twice_changes_nothing(staff_client, webmail_client):
    row = WebmailSession.objects.get()
    url = reverse("gateway_session_end", kwargs={"pk": row.pk})
    staff_client.post(url)
    staff_client.post(url)
    assert AuditEvent.objects.filter(action="gateway.session_ended").count() == 1


def test_it_needs_an_otp_verified_staff_session(client, it_staff, webmail_client):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=it_staff, name="Phone", confirmed=True)
    client.force_login(it_staff)  # password only: the OTP step comes first, as on every page
    response = client.get(reverse("gateway_sessions"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("otp_verify"))


def test_an_unknown_session_is_404(staff_client):
    assert staff_client.post(reverse("gateway_session_end", kwargs={"pk": 999})).status_code == 404


def test_deactivating_on_the_staff_page_ends_webmail_at_once(staff_client, webmail_client, employee):
    response = staff_client.post(reverse("user_detail", kwargs={"pk": employee.pk}), {"role": "employee"})
    assert response.status_code == 302
    employee.refresh_from_db()
    assert not employee.is_active
    assert webmail_client.get(AUTH_URL).status_code == 401
    assert WebmailSession.objects.get().end_reason == WebmailSession.EndReason.DEACTIVATED


def test_resetting_tokens_on_the_staff_page_ends_webmail_at_once(staff_client, webmail_client, employee):
    url = reverse("user_reset_tokens", kwargs={"pk": employee.pk})
    assert staff_client.post(url, {"reason": "Phone lost on the train"}).status_code == 302
    assert webmail_client.get(AUTH_URL).status_code == 401
    assert WebmailSession.objects.get().end_reason == WebmailSession.EndReason.TOKEN_RESET


def test_enrolling_again_after_a_reset_starts_a_new_webmail_session(staff_client, webmail_client, employee, it_staff):
    """After a token reset the same browser session enrols and passes OTP again: a fresh row IT staff can end."""
    import time

    from django.conf import settings
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts import enrolment

    enrolment.reset_tokens(employee, actor=it_staff, reason="phone lost")
    assert webmail_client.get(AUTH_URL).status_code == 401
    # What the enrolment's confirm step does to the session (signin.mark_otp_verified).
    device = TOTPDevice.objects.create(user=employee, name="New phone", confirmed=True)
    session = webmail_client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.cycle_key()
    session["otp_verified_at"] = int(time.time())
    session.save()
    webmail_client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    assert webmail_client.get(AUTH_URL).status_code == 200
    live = WebmailSession.objects.get(ended_at__isnull=True)
    assert (live.session_key, live.device_id) == (session.session_key, device.persistent_id)
    assert WebmailSession.objects.get(ended_at__isnull=False).end_reason == "token_reset"
    assert AuditEvent.objects.filter(action="gateway.first_pass").count() == 2
    staff_client.post(reverse("gateway_session_end", kwargs={"pk": live.pk}))
    assert webmail_client.get(AUTH_URL).status_code == 401
