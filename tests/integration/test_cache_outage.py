"""Redis stopped under a live portal: signed-in people keep working and webmail stays open, nothing is lost.

A Redis of the test's own (on its own port) is the live server's cache, session store and Celery broker. A
person is signed in in Chromium and passes the webmail gate; another is signed in too. Redis stops: pages
answer 200, the gate 200 for the signed-in session and 401 without one, ``/healthz`` 503 naming the cache
and the broker; the person acknowledges a policy, the other signs out, a third person signs in. Redis
comes back with the data it held before (the harder case: its copies of the sessions are older than the
database): everything answers as before, the acknowledgement is there, the signed-out session stays out.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from accounts.roles import Role
from policies import library
from policies.models import Acknowledgement, Policy
from tests.services import ROOT, database_url, free_port, port_open, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

RETRY_AFTER = 1.0
PAGES = ["/", "/policies/", "/accounts/tokens/"]


@pytest.fixture
def portal_on_own_redis(own_redis, settings, celery_app, monkeypatch):
    """The live server's cache, sessions and broker on ``own_redis`` (cache db 0, broker db 1)."""
    from kombu import pools

    settings.CACHES = {
        "default": {
            "BACKEND": "portal.cache.ResilientRedisCache",
            "LOCATION": own_redis.url(0),
            "OPTIONS": {"retry_after": RETRY_AFTER},
        }
    }
    broker = own_redis.url(1)
    monkeypatch.setenv("CELERY_BROKER_URL", broker)  # Celery reads it before its configuration
    settings.CELERY_BROKER_URL = celery_app.conf.broker_url = broker
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    pools.reset()
    return own_redis


def published_policy(owner) -> Policy:
    policy = library.adopt(library.POLICIES[0], owner=owner)
    policy.publish(by=owner, require_acknowledgement=True)
    return policy


def statuses(page, paths) -> dict[str, int]:
    return {path: page.goto(path).status for path in paths}


def gate(page) -> int:
    return page.request.get("/gateway/auth").status


def healthz(page) -> dict:
    response = page.request.get("/healthz")
    return {**response.json(), "http": response.status}


def test_pages_and_the_webmail_gate_outlive_a_redis_outage(
    portal_on_own_redis, new_page, browser_sign_in, make_user, employee, it_staff
):
    redis_server = portal_on_own_redis
    policy = published_policy(it_staff)
    pages = [*PAGES, f"/policies/{policy.pk}/"]
    colleague = make_user("colleague@example.com", role=Role.EMPLOYEE)
    latecomer = make_user("latecomer@example.com", role=Role.EMPLOYEE)

    person = new_page()
    browser_sign_in(person, employee)
    other = new_page()
    browser_sign_in(other, colleague)
    anonymous = new_page()
    assert statuses(person, pages) == dict.fromkeys(pages, 200)
    assert (gate(person), gate(other), gate(anonymous)) == (200, 200, 401)
    assert not {"cache", "broker"} & set(healthz(anonymous)["failing"])
    colleague_cookies = other.context.cookies()

    redis_server.stop(keep_data=True)

    started = time.monotonic()
    assert statuses(person, pages) == dict.fromkeys(pages, 200)
    assert (gate(person), gate(anonymous)) == (200, 401)
    health = healthz(anonymous)
    assert health["http"] == 503 and {"cache", "broker"} <= set(health["failing"])
    # Work done meanwhile: an acknowledgement, a sign-out, a sign-in (sessions written to the database only).
    person.goto(f"/policies/{policy.pk}/")
    person.get_by_role("button", name="I have read and understood version 1").click()
    person.wait_for_url("**/policies/")
    assert person.get_by_text("you acknowledged version 1").is_visible()
    other.goto("/")
    other.get_by_role("button", name="Sign out").click()
    other.wait_for_url("**/accounts/login/**")
    third = new_page()
    browser_sign_in(third, latecomer)
    assert (gate(third), statuses(third, PAGES)) == (200, dict.fromkeys(PAGES, 200))
    assert time.monotonic() - started < 60  # nothing waited on connect timeouts

    redis_server.start()  # with the snapshot it saved: copies of sessions from before the outage
    time.sleep(RETRY_AFTER + 0.2)

    assert statuses(person, pages) == dict.fromkeys(pages, 200)
    person.goto(f"/policies/{policy.pk}/")
    assert person.get_by_text("You acknowledged version 1 on").is_visible()
    assert Acknowledgement.objects.filter(user=employee, policy=policy).count() == 1
    assert (gate(person), gate(third), gate(anonymous)) == (200, 200, 401)
    other.context.clear_cookies()
    other.context.add_cookies(colleague_cookies)  # the signed-out session's cookie, replayed
    assert gate(other) == 401
    assert other.goto("/").url.split("?")[0].endswith("/accounts/login/")
    health = healthz(anonymous)
    assert not {"cache", "broker"} & set(health["failing"]), health


# --- The same on gunicorn: two worker processes, each with its own view of Redis -----------------------------

SESSION = """
import time
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django_otp.plugins.otp_totp.models import TOTPDevice
from accounts.models import User
user = User.objects.get(email="{email}")
device = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session["otp_device_id"] = device.persistent_id
session["otp_verified_at"] = int(time.time())
session.create()
print(session.session_key)
"""


class Gunicorn:
    def __init__(self, env: dict[str, str], log_path) -> None:
        self.port = free_port()
        self.log_path = log_path
        log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "2",
             "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_until(lambda: port_open("127.0.0.1", self.port), 60, describe=self.log)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def get(self, path: str, cookie: str = "", data: dict | None = None) -> tuple[int, str, str]:
        """(status, body, the csrftoken cookie it set); with ``data``, a POST."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=urllib.parse.urlencode(data).encode() if data is not None else None,
            headers={"Cookie": cookie} if cookie else {},
        )
        try:
            with NO_REDIRECTS.open(request, timeout=30) as response:
                set_cookies = "; ".join(response.headers.get_all("Set-Cookie") or [])
                csrf = re.search(r"csrftoken=([^;]+)", set_cookies)
                return response.status, response.read().decode(), csrf.group(1) if csrf else ""
        except urllib.error.HTTPError as exc:
            return exc.code, "", ""

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(20)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)


def test_no_worker_revives_a_session_signed_out_while_redis_was_away(own_redis, transactional_db, employee, tmp_path):
    """Two gunicorn workers; one signs the session out while Redis is down; Redis comes back with its
    snapshot (the session's copy from before). Neither worker lets the session through again: the one that
    dropped the write moves the generation on, and the other finds its connection broken and does too."""
    from django.db import connection

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "CACHE_URL": own_redis.url(0),
        "CELERY_BROKER_URL": own_redis.url(1),
        "PYTHONPATH": str(ROOT),
    }
    key = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SESSION.format(email=employee.email)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout.split()[-1]  # fmt: skip
    cookie = f"portal_session={key}"
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    try:
        assert {server.get("/gateway/auth", cookie)[0] for _ in range(20)} == {200}  # both workers cached it
        _, page, csrf_cookie = server.get("/", cookie)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        own_redis.stop(keep_data=True)

        signed_in = f"{cookie}; csrftoken={csrf_cookie}"
        # One request while Redis is away: one worker drops the write, the other never sees the outage.
        assert server.get("/accounts/logout/", signed_in, data={"csrfmiddlewaretoken": token})[0] == 302

        own_redis.start()
        answers = [server.get("/gateway/auth", cookie)[0] for _ in range(40)]
        assert set(answers) == {401}, (answers, server.log())
        assert server.get("/healthz")[0] in (200, 503)  # answers (worker and beat are not running here)
    finally:
        server.stop()
