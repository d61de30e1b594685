"""The Redis cache backend (portal/cache.py) against real Redis servers: one of the test's own that it stops
and starts, and a port where nothing listens (a refused connection)."""

from __future__ import annotations

import logging
import time

import pytest
import redis
from django.contrib.sessions.backends.cached_db import SessionStore

from portal.cache import Link, ResilientRedisCache
from tests.services import free_port


def make_cache(url: str, retry_after: float = 0.2) -> ResilientRedisCache:
    return ResilientRedisCache(url, {"OPTIONS": {"retry_after": retry_after}})


def refused_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def past_the_breaker(cache: ResilientRedisCache) -> None:
    time.sleep(cache.retry_after + 0.05)


def test_it_is_an_ordinary_cache_while_redis_answers(own_redis):
    cache = make_cache(own_redis.url())
    cache.set("a", {"x": 1}, 60)
    assert cache.get("a") == {"x": 1}
    assert cache.add("a", "other") is False
    assert cache.get_many(["a", "b"]) == {"a": {"x": 1}}
    assert cache.has_key("a") and "a" in cache
    assert cache.add("n", 0) is True
    assert cache.incr("n") == 1 and cache.decr("n") == 0
    with pytest.raises(ValueError):
        cache.incr("missing")
    assert cache.delete("a") is True
    assert cache.get("a", "gone") == "gone"


def test_a_refused_connection_is_a_miss_and_writes_are_dropped():
    cache = make_cache(refused_url())
    assert cache.get("a") is None
    assert cache.get("a", "default") == "default"
    cache.set("a", 1)  # no exception
    assert cache.get_many(["a", "b"]) == {}
    assert cache.has_key("a") is False
    assert cache.delete("a") is False
    cache.delete_many(["a", "b"])
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert cache.touch("a") is False
    assert cache.get_or_set("c", 3) == 3
    assert cache.clear() is False


def test_counters_and_once_flags_are_kept_in_the_process_meanwhile():
    cache = make_cache(refused_url())
    assert cache.add("flag", 1, 300) is True
    assert cache.add("flag", 1, 300) is False  # the flag still holds back a repeat
    cache.add("count", 0, 120)
    assert [cache.incr("count") for _ in range(3)] == [1, 2, 3]
    with pytest.raises(ValueError):
        cache.incr("never-added")  # what Redis answers too


def test_the_breaker_stops_trying_for_a_while_after_a_failure():
    cache = make_cache(refused_url(), retry_after=30)
    cache.get("a")
    assert not cache.link.may_try()
    started = time.monotonic()
    for _ in range(1000):
        cache.get("a")
    assert time.monotonic() - started < 0.5  # no connection attempts: nothing waits


def test_a_blackholed_redis_costs_at_most_the_connect_timeout_then_nothing():
    # 10.255.255.1 is not routed on a test machine: the connect times out instead of being refused.
    cache = make_cache("redis://10.255.255.1:6379/0", retry_after=30)
    started = time.monotonic()
    assert cache.get("a", "miss") == "miss"
    first = time.monotonic() - started
    started = time.monotonic()
    assert cache.get("a", "miss") == "miss"
    assert first < 2 and time.monotonic() - started < 0.05


def test_the_outage_is_logged_once_a_minute(caplog):
    cache = make_cache(refused_url(), retry_after=0)
    with caplog.at_level(logging.WARNING, logger="portal.cache"):
        for _ in range(20):
            cache.get("a")
    warnings = [r for r in caplog.records if r.name == "portal.cache"]
    assert len(warnings) == 1
    assert "unreachable" in warnings[0].getMessage() and "serving from the database" in warnings[0].getMessage()


def test_it_says_when_redis_answers_again(own_redis, caplog):
    cache = make_cache(own_redis.url())
    own_redis.stop()
    cache.get("a")
    own_redis.start()
    past_the_breaker(cache)
    with caplog.at_level(logging.WARNING, logger="portal.cache"):
        cache.set("a", 1)
    assert cache.get("a") == 1
    assert any("answers again" in record.getMessage() for record in caplog.records)


def test_a_restart_alone_is_not_an_outage(own_redis, caplog):
    cache = make_cache(own_redis.url(), retry_after=30)
    cache.set("a", 1)  # a pooled connection, which the restart closes
    own_redis.stop()
    own_redis.start()
    with caplog.at_level(logging.WARNING, logger="portal.cache"):
        assert cache.get("a", "empty") == "empty"  # retried once on a fresh connection
        cache.set("a", 2)
    assert cache.get("a") == 2
    assert cache.link.may_try()
    assert not [r for r in caplog.records if "unreachable" in r.getMessage()]


def test_a_process_whose_connection_broke_distrusts_a_redis_back_from_a_snapshot(own_redis):
    cache = make_cache(own_redis.url(), retry_after=30)
    cache.set("session", "signed in", 600)  # a pooled connection
    before = cache.link.generation
    own_redis.stop(keep_data=True)  # another process may drop writes meanwhile: this one cannot know
    own_redis.start()
    assert cache.get("session") is None  # its connection broke: the generation moved on
    assert cache.link.may_try()
    cache.set("session", "again", 600)
    assert cache.get("session") == "again"
    assert cache.link.generation == before + 1  # once


def test_values_cached_before_dropped_writes_are_set_aside_when_redis_returns_with_them(own_redis):
    cache = make_cache(own_redis.url())
    cache.set("session", "signed in", 600)
    own_redis.stop(keep_data=True)
    cache.delete("session")  # signed out while Redis was away: dropped
    own_redis.start()  # back, with its snapshot
    past_the_breaker(cache)
    assert cache.get("session") is None
    cache.set("session", "new", 600)
    assert cache.get("session") == "new"


def test_another_process_sees_the_new_generation_within_a_second(own_redis):
    ours = make_cache(own_redis.url())
    theirs = make_cache(own_redis.url())
    theirs.link = Link("another process")  # its own view of Redis, which never saw the outage
    ours.set("facts", "before", 600)
    assert theirs.get("facts") == "before"
    own_redis.stop(keep_data=True)
    ours.delete("facts")
    own_redis.start()
    past_the_breaker(ours)
    assert ours.get("facts") is None  # moves the generation on
    time.sleep(1.05)
    assert theirs.get("facts") is None


def test_a_process_that_dropped_writes_moves_the_generation_on_without_another_request(own_redis):
    ours = make_cache(own_redis.url(), retry_after=600)
    theirs = make_cache(own_redis.url())
    theirs.link = Link("another process")
    ours.set("session", "signed in", 600)
    assert theirs.get("session") == "signed in"
    own_redis.stop(keep_data=True)
    ours.delete("session")  # signed out meanwhile; this process then gets no more requests
    own_redis.start()
    time.sleep(2.2)  # a probe a second in ours, and their copy of the generation at most a second old
    assert theirs.get("session") is None
    assert ours.link.may_try()  # the probe also ended the outage for this process


def test_a_redis_that_restarted_empty_starts_a_generation_no_earlier_key_carries(own_redis):
    cache = make_cache(own_redis.url())
    cache.set("a", 1)
    before = cache.link.generation
    own_redis.stop()
    own_redis.start()
    time.sleep(1.05)
    cache.get("a")
    assert cache.link.generation > before


def test_ping_ends_an_outage_for_healthz(own_redis):
    cache = make_cache(own_redis.url(), retry_after=600)
    own_redis.stop()
    with pytest.raises(redis.ConnectionError):
        cache.ping()
    assert not cache.link.may_try()
    own_redis.start()
    cache.ping()
    assert cache.link.may_try()


@pytest.mark.django_db
def test_a_session_saved_during_the_outage_is_not_shadowed_by_its_cached_copy(own_redis, settings):
    settings.CACHES = {
        "default": {"BACKEND": "portal.cache.ResilientRedisCache", "LOCATION": own_redis.url(),
                    "OPTIONS": {"retry_after": 0.2}},
    }  # fmt: skip
    session = SessionStore()
    session["step"] = "before"
    session.save()
    key = session.session_key
    assert SessionStore(session_key=key).load()["step"] == "before"  # now cached
    own_redis.stop(keep_data=True)
    during = SessionStore(session_key=key)
    assert during.load()["step"] == "before"  # from the database
    during["step"] = "during"
    during.save()  # the database row; the cache write is dropped
    own_redis.start()
    time.sleep(0.25)
    assert SessionStore(session_key=key).load()["step"] == "during"


@pytest.mark.django_db
def test_a_session_deleted_during_the_outage_stays_deleted(own_redis, settings):
    settings.CACHES = {
        "default": {"BACKEND": "portal.cache.ResilientRedisCache", "LOCATION": own_redis.url(),
                    "OPTIONS": {"retry_after": 0.2}},
    }  # fmt: skip
    session = SessionStore()
    session["_auth_user_id"] = "1"
    session.save()
    key = session.session_key
    SessionStore(session_key=key).load()
    own_redis.stop(keep_data=True)
    SessionStore(session_key=key).delete()  # signed out
    own_redis.start()
    time.sleep(0.25)
    assert SessionStore(session_key=key).load() == {}
    assert not SessionStore().exists(key)
