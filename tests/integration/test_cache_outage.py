"""Redis stopped under a live portal: signed-in people keep working and webmail stays open, nothing is lost.

A Redis of the test's own (on its own port) is the live server's cache, session store and Celery broker. A
person is signed in in Chromium and passes the webmail gate; another is signed in too. Redis stops: pages
answer 200, the gate 200 for the signed-in session and 401 without one, ``/healthz`` 503 naming the cache
and the broker; the person acknowledges a policy, the other signs out, a third person signs in. Redis
comes back with the data it held before (the harder case: its copies of the sessions are older than the
database): everything answers as before, the acknowledgement is there, the signed-out session stays out.
"""

from __future__ import annotations

import time

import pytest

from accounts.roles import Role
from policies import library
from policies.models import Acknowledgement, Policy

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
