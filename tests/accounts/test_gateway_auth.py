"""GET /gateway/auth: nginx's auth_request endpoint (200 with the user's headers, 401 otherwise)."""

from __future__ import annotations

import time

import pytest
import time_machine
from django.contrib.sessions.backends.cached_db import SessionStore
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import gateway, signin
from accounts.models import AuditEvent, WebmailSession
from accounts.roles import Role
from tests.conftest import otp_sign_in
from tests.services import free_port

URL = "/gateway/auth"


def assert_refused(response) -> None:
    assert response.status_code == 401
    assert "X-Portal-User" not in response.headers
    assert "Location" not in response.headers


def test_the_url_is_where_nginx_looks():
    assert reverse("gateway_auth") == URL


def test_it_refuses_a_request_without_a_session(client, db):
    assert_refused(client.get(URL))


def test_it_refuses_a_session_that_skipped_the_otp_step(client, employee):
    client.force_login(employee)
    assert_refused(client.get(URL))


def test_it_refuses_a_session_with_a_device_but_no_verification_time(client, employee):
    otp_sign_in(client, employee)
    session = client.session
    del session[signin.OTP_VERIFIED_KEY]
    session.save()
    assert_refused(client.get(URL))


def test_it_lets_an_otp_session_through_with_the_user_headers(client, employee):
    otp_sign_in(client, employee)
    response = client.get(URL)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["X-Portal-User"] == "erin@example.com"
    assert response.headers["X-Portal-Name"] == "Erin Employee"
    assert response.headers["X-Portal-Role"] == "employee"
    assert "no-store" in response.headers["Cache-Control"]


def test_it_percent_encodes_names_that_are_not_latin_1(client, make_user):
    user = make_user("lukasz@example.com", first_name="Łukasz", last_name="Żak")
    otp_sign_in(client, user)
    assert client.get(URL).headers["X-Portal-Name"] == "%C5%81ukasz %C5%BBak"


def test_it_answers_the_methods_nginx_repeats(client, employee):
    # auth_request's subrequest keeps the browser's method unless nginx says proxy_method GET.
    otp_sign_in(client, employee)
    client.handler.enforce_csrf_checks = True
    assert client.post(URL).status_code == 200
    assert client.head(URL).status_code == 200


def test_it_refuses_once_the_gateway_age_has_passed(client, employee, settings):
    settings.GATEWAY_MAX_AGE = 3600
    with time_machine.travel(1_900_000_000, tick=False):
        otp_sign_in(client, employee)
        assert client.get(URL).status_code == 200
    with time_machine.travel(1_900_000_000 + 3599, tick=False):
        assert client.get(URL).status_code == 200
    with time_machine.travel(1_900_000_000 + 3601, tick=False):
        assert_refused(client.get(URL))


def test_the_default_gateway_age_is_twelve_hours(settings):
    assert settings.GATEWAY_MAX_AGE == 43200


def test_it_refuses_a_deactivated_user_at_once(client, employee):
    otp_sign_in(client, employee)
    assert client.get(URL).status_code == 200  # the user's facts are now cached
    employee.is_active = False
    employee.save()
    assert_refused(client.get(URL))
    assert WebmailSession.objects.get().end_reason == WebmailSession.EndReason.DEACTIVATED


def test_it_refuses_after_the_tokens_are_reset(client, employee):
    device = otp_sign_in(client, employee)
    assert client.get(URL).status_code == 200
    TOTPDevice.objects.filter(user=employee).delete()
    assert_refused(client.get(URL))
    row = WebmailSession.objects.get()
    assert (row.device_id, row.end_reason) == (device.persistent_id, WebmailSession.EndReason.TOKEN_RESET)


def test_facts_cached_late_by_a_check_that_read_before_the_reset_are_not_used(client, employee):
    """A check that read the database just before a token reset may store its facts just after the reset
    dropped them; the fence token the reset replaced makes them stale."""
    from django.core.cache import cache

    otp_sign_in(client, employee)
    assert client.get(URL).status_code == 200
    late = gateway.user_facts(employee.pk)  # read before the reset committed
    TOTPDevice.objects.filter(user=employee).delete()
    cache.set(gateway.facts_key(employee.pk), late, gateway.FACTS_TTL)  # ... and cached after it
    assert_refused(client.get(URL))
    assert gateway.user_facts(employee.pk)["devices"] == []


def test_it_refuses_when_the_device_is_no_longer_confirmed(client, employee):
    device = otp_sign_in(client, employee)
    assert client.get(URL).status_code == 200
    device.confirmed = False
    device.save()
    assert_refused(client.get(URL))


def test_enrolling_another_device_keeps_webmail_open(client, employee):
    otp_sign_in(client, employee)
    assert client.get(URL).status_code == 200
    TOTPDevice.objects.create(user=employee, name="second phone", confirmed=True)
    assert client.get(URL).status_code == 200


def test_it_refuses_after_a_password_change(client, employee):
    otp_sign_in(client, employee)
    assert client.get(URL).status_code == 200
    employee.set_password("a completely new passphrase 77")
    employee.save()
    assert_refused(client.get(URL))


def test_it_refuses_a_role_that_may_not_use_webmail(client, executive, settings):
    settings.GATEWAY_ROLES = ["employee", "it_staff"]
    otp_sign_in(client, executive)
    assert_refused(client.get(URL))


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.EXECUTIVE, Role.IT_STAFF])
def test_every_role_may_use_webmail_by_default(client, make_user, role):
    otp_sign_in(client, make_user(f"{role}@example.com", role=role))
    assert client.get(URL).status_code == 200


def test_it_refuses_a_forged_session_cookie(client, employee, settings):
    otp_sign_in(client, employee)
    client.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32
    assert_refused(client.get(URL))


def test_it_refuses_a_session_cookie_replayed_after_sign_out(client, employee, settings):
    otp_sign_in(client, employee)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get(URL).status_code == 200
    client.post(reverse("logout"))
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert_refused(client.get(URL))
    assert WebmailSession.objects.get().end_reason == WebmailSession.EndReason.SIGNED_OUT


def test_it_refuses_another_users_device_in_the_session(client, employee, it_staff):
    others = TOTPDevice.objects.create(user=it_staff, name="ivan's phone", confirmed=True)
    otp_sign_in(client, employee)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = others.persistent_id
    session.save()
    assert_refused(client.get(URL))


def test_the_first_pass_of_a_session_is_audited_once(client, employee):
    otp_sign_in(client, employee)
    for _ in range(3):
        # nginx (a trusted proxy, the test client's 127.0.0.1) appends the browser's address to X-Forwarded-For.
        headers = {
            "X-Forwarded-For": "203.0.113.9",
            "User-Agent": "Firefox",
            "X-Original-URI": "/?_task=mail&_token=s3",
        }
        assert client.get(URL, headers=headers).status_code == 200
    row = WebmailSession.objects.get()
    assert (row.user, row.ip_address, row.user_agent, row.session_key) == (
        employee,
        "203.0.113.9",
        "Firefox",
        client.session.session_key,
    )
    event = AuditEvent.objects.get(action="gateway.first_pass")
    assert (event.actor, event.target) == (employee, employee.email)
    assert event.details == {"webmail_session": row.pk, "webmail_path": "/"}


def test_a_new_session_is_a_new_webmail_session(client, employee):
    otp_sign_in(client, employee)
    client.get(URL)
    client.post(reverse("logout"))
    otp_sign_in(client, employee)
    client.get(URL)
    assert WebmailSession.objects.count() == 2
    assert AuditEvent.objects.filter(action="gateway.first_pass").count() == 2


def test_it_follows_a_rotated_session_key(client, employee, settings):
    otp_sign_in(client, employee)
    client.get(URL)
    session = client.session
    session.cycle_key()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    assert client.get(URL).status_code == 200
    assert WebmailSession.objects.get().session_key == session.session_key


def test_a_warm_pass_does_not_touch_the_database(client, employee, django_assert_num_queries):
    otp_sign_in(client, employee)
    client.get(URL)
    with django_assert_num_queries(0):
        assert client.get(URL).status_code == 200


def test_it_reads_sessions_from_redis_without_the_database(
    client, employee, redis_server, settings, django_assert_num_queries
):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_server}}
    otp_sign_in(client, employee)
    client.get(URL)
    with django_assert_num_queries(0):
        assert client.get(URL).headers["X-Portal-User"] == employee.email
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post(reverse("logout"))
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert_refused(client.get(URL))
    assert SessionStore(session_key=cookie).load() == {}


def test_decide_explains_each_refusal(employee):
    session = SessionStore()
    assert gateway.decide(session).reason == gateway.Reason.NO_SESSION
    session["_auth_user_id"] = str(employee.pk)
    assert gateway.decide(session).reason == gateway.Reason.NO_OTP
    session[DEVICE_ID_SESSION_KEY] = "otp_totp.totpdevice/999"
    session[signin.OTP_VERIFIED_KEY] = int(time.time()) + 3600
    assert gateway.decide(session).reason == gateway.Reason.EXPIRED  # from the future: refused too
    session[signin.OTP_VERIFIED_KEY] = int(time.time())
    assert gateway.decide(session).reason == gateway.Reason.PASSWORD_CHANGED
    session["_auth_user_hash"] = employee.get_session_auth_hash()
    assert gateway.decide(session).reason == gateway.Reason.TOKEN_RESET
    session["_auth_user_id"] = "999999"
    assert gateway.decide(session).reason == gateway.Reason.UNKNOWN_USER


def test_it_reads_the_database_when_the_session_cache_is_down(employee, settings):
    """The portal's Redis backend turns an unreachable Redis into a miss (portal/cache.py): webmail stays open
    to signed-in people, and closed to everyone else."""
    client = Client(raise_request_exception=False)
    otp_sign_in(client, employee)
    dead = free_port()  # nothing listens there
    settings.CACHES = {
        "default": {"BACKEND": "portal.cache.ResilientRedisCache", "LOCATION": f"redis://127.0.0.1:{dead}/0"}
    }
    response = client.get(URL)
    assert response.status_code == 200
    assert response.headers["X-Portal-User"] == employee.email
    assert_refused(Client().get(URL))
