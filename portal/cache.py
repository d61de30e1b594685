"""The portal's Redis cache: an outage of Redis is a cache miss, never an error.

Sessions (``cached_db``), the webmail gate's user facts and a few throttles live in the cache; all of them
have the database behind them or a safe answer without it. So while Redis cannot be reached:

- a read is a miss (``get`` answers the default, ``get_many`` nothing, ``has_key`` False): sessions and
  the gate's facts are read from the database;
- a write is dropped (``set``, ``delete``...): the database, written first, holds the truth;
- ``add`` / ``incr`` / ``decr`` (counters and "at most once every few minutes" flags) are kept in this
  process's memory instead: a throttle still counts, per process, and an audit flag still holds back repeats;
- one warning a minute says so (with the number of failed operations), and one when Redis answers again.

**Circuit breaker.** After a failure no connection is tried for ``retry_after`` seconds (5 by default), so a
request does not wait on a connect timeout each time it touches the cache; connections time out after
half a second (a refused one fails at once). An operation whose connection broke is tried once more at
once on a new connection, so a restart alone is not an outage.

**Generation fence.** Every key carries the current *generation*, a counter kept in Redis itself, and the
generation moves on whenever what Redis holds may be older than the database: in a process that had to
drop a write (a session saved or deleted, a person's facts dropped, while Redis was away) as soon as Redis
answers again (a thread tries every second, and its next operation does it first), and in a process whose
connection broke (Redis may have restarted from a snapshot taken before writes other processes dropped).
Every value cached before is then set aside: a session signed out during the outage must not come back
from a Redis that kept its data. The other processes read the generation at most a second old. A Redis
that restarted empty starts a fresh generation (from the clock), so keys of an old generation are never
read again; they expire on their own TTL.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

# What an unreachable or failing Redis raises (socket errors surface as redis.ConnectionError, but a few
# paths in redis-py let an OSError through).
CACHE_ERRORS = (redis.RedisError, OSError)
RETRY_AFTER_SECONDS = 5.0
REPORT_EVERY_SECONDS = 60.0
# How old this process's idea of the generation may be (another process may have moved it on).
FENCE_READ_EVERY_SECONDS = 1.0
# After a dropped write, how often a thread tries to move the generation on, and for how long at most (the
# next operation of the process does it too).
PROBE_EVERY_SECONDS = 1.0
PROBE_FOR_SECONDS = 3600.0
CONNECTION_DEFAULTS = {"socket_connect_timeout": 0.5, "socket_timeout": 1.0, "health_check_interval": 30}


def redacted(url: str) -> str:
    """``url`` without its password, for the log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class Link:
    """What this process knows about one Redis (shared by the threads' cache objects): whether it answers,
    whether writes were dropped while it did not, and the current generation of keys."""

    def __init__(self, name: str) -> None:
        self.name = name  # the server, for the log
        self.lock = threading.Lock()
        self.closed_until = 0.0  # monotonic; no connection is tried before it
        self.down_since: float | None = None  # wall clock: the first failure of this outage
        self.drops = 0  # writes that did not reach Redis (or broken connections) since the generation moved on
        self.reconnects = 0  # connections opened again where one had been open: Redis may have restarted
        self.move_lock = threading.Lock()  # one thread moves the generation on; the others wait for it
        self.generation: int | None = None
        self.generation_read_at = -math.inf
        self.reported_at = -math.inf
        self.unreported = 0
        self.prober: threading.Thread | None = None

    @property
    def dropped_writes(self) -> bool:
        return self.drops > 0

    def may_try(self) -> bool:
        return time.monotonic() >= self.closed_until

    def failed(self, exc: BaseException, retry_after: float) -> None:
        now = time.monotonic()
        with self.lock:
            self.closed_until = now + retry_after
            if self.down_since is None:
                self.down_since = time.time()
            self.unreported += 1
            if now - self.reported_at < REPORT_EVERY_SECONDS:
                return
            count, self.unreported, self.reported_at = self.unreported, 0, now
        log.warning(
            "cache %s unreachable (%s: %s); serving from the database, %d failed operation(s) in the last minute",
            self.name, exc.__class__.__name__, exc, count,
        )  # fmt: skip

    def dropped(self, move_on: Callable[[], None]) -> None:
        """A write did not reach Redis (or a connection broke): the generation must move on before Redis is
        used again. ``move_on`` does it; a thread of this process tries every second, so that no other process
        reads a value from before the outage for long, whether or not this one gets another request."""
        with self.lock:
            self.drops += 1
            if self.prober is not None and self.prober.is_alive():
                return
            self.prober = threading.Thread(target=self._probe, args=(move_on,), name="portal-cache-fence", daemon=True)
            self.prober.start()

    def _probe(self, move_on: Callable[[], None]) -> None:
        deadline = time.monotonic() + PROBE_FOR_SECONDS
        while self.dropped_writes and time.monotonic() < deadline:
            time.sleep(PROBE_EVERY_SECONDS)
            try:
                move_on()
            except CACHE_ERRORS:
                continue
            self.answered()
            return

    def answered(self) -> None:
        if self.down_since is None and not self.closed_until:
            return
        with self.lock:
            down_since, self.down_since, self.closed_until = self.down_since, None, 0.0
            self.reported_at, self.unreported = -math.inf, 0
        if down_since is not None:
            log.warning("cache %s answers again after %d s", self.name, time.time() - down_since)


_links: dict[str, Link] = {}
_links_lock = threading.Lock()


def link_for(server: str, key_prefix: str) -> Link:
    with _links_lock:
        return _links.setdefault(f"{server}|{key_prefix}", Link(server))


class ResilientRedisCache(RedisCache):
    """Django's ``RedisCache`` that turns an unreachable Redis into misses and dropped writes (see above).

    ``OPTIONS`` may set ``retry_after`` (seconds of the breaker); the rest goes to redis-py's connection pool
    as with ``RedisCache``, with short timeouts unless given."""

    def __init__(self, server, params) -> None:
        options = dict(params.get("OPTIONS") or {})
        self.retry_after = float(options.pop("retry_after", RETRY_AFTER_SECONDS))
        for name, value in CONNECTION_DEFAULTS.items():
            options.setdefault(name, value)
        # No retries inside redis-py: ``_guarded`` tries once more itself after a broken connection, moving the
        # generation on first.
        options.setdefault("retry", Retry(NoBackoff(), 0))
        self._connected_before: weakref.WeakSet = weakref.WeakSet()
        self._moving = threading.local()  # set while this thread moves the generation on
        options["redis_connect_func"] = self._connected
        super().__init__(server, {**params, "OPTIONS": options})
        self.server_name = redacted(self._servers[0]) + (
            f" (+{len(self._servers) - 1})" if len(self._servers) > 1 else ""
        )
        self.link = link_for(self.server_name, self.key_prefix)
        self.fence_key = f"{self.key_prefix}:portal-cache-generation"
        # Counters and "once" flags while Redis is away; one store per process and Redis (LocMemCache
        # instances of one name share their data).
        self.fallback = LocMemCache(
            f"portal-cache-fallback|{self.server_name}|{self.key_prefix}", {"TIMEOUT": self.default_timeout}
        )

    # --- The guard around every operation ---------------------------------------------------------------

    def _guarded(self, write: bool, fallback: Callable[[], Any], operation: Callable[[], Any]) -> Any:
        link = self.link
        if not link.may_try():
            if write:
                link.dropped(self._move_generation_on)
            return fallback()
        try:
            try:
                return self._run(operation)
            except redis.ConnectionError:
                # A pooled connection that died with a restarted Redis, or Redis is away. Either way what it
                # holds may be older than the database: move the generation on, on a new connection.
                link.dropped(self._move_generation_on)
                return self._run(operation)
        except CACHE_ERRORS as exc:
            link.failed(exc, self.retry_after)
            if write:
                link.dropped(self._move_generation_on)
            return fallback()

    def _run(self, operation: Callable[[], Any]) -> Any:
        link = self.link
        self._follow_generation()
        reconnects = link.reconnects
        result = operation()
        if link.reconnects != reconnects:
            # redis-py replaced a connection that had closed (Redis restarted?) under this very operation, whose
            # key carried the generation of before: move it on and ask again.
            self._follow_generation()
            result = operation()
        link.answered()
        return result

    def _connected(self, connection) -> None:
        """redis-py's hook on every new connection of this cache object's pools (``redis_connect_func``).

        redis-py connects a connection object again when its socket closed (a new object is a pool growing):
        Redis may have restarted, from a snapshot older than writes other processes had to drop."""
        connection.on_connect()
        if connection not in self._connected_before:
            self._connected_before.add(connection)
            return
        if getattr(self._moving, "active", False):
            return  # the move itself, on this new connection: it is what the reconnect asks for
        link = self.link
        with link.lock:
            link.reconnects += 1
            link.drops += 1

    def _follow_generation(self) -> None:
        """Move the generation on after dropped writes; otherwise read it when this process's copy is old."""
        link = self.link
        now = time.monotonic()
        if link.dropped_writes:
            self._move_generation_on()
            return
        if now - link.generation_read_at < FENCE_READ_EVERY_SECONDS:
            return
        client = self._cache.get_client(None, write=True)
        value = client.get(self.fence_key)
        if value is None:  # a Redis that started empty: a generation no earlier key can carry
            client.set(self.fence_key, self._fresh_generation(), nx=True)
            value = client.get(self.fence_key)
        link.generation, link.generation_read_at = int(value), now

    def _move_generation_on(self) -> None:
        """After dropped writes: a new generation, so that nothing cached before them is read again."""
        link = self.link
        with link.move_lock:
            drops = link.drops
            if not drops:
                return  # another thread did it while this one waited
            client = self._cache.get_client(None, write=True)
            self._moving.active = True
            try:
                client.set(self.fence_key, self._fresh_generation(), nx=True)
                generation = int(client.incr(self.fence_key))
            finally:
                self._moving.active = False
            with link.lock:
                link.generation, link.generation_read_at = generation, time.monotonic()
                link.drops -= drops  # writes dropped meanwhile move it on once more
        log.warning(
            "cache %s: writes were dropped or a connection broke; values cached before are set aside "
            "(generation %d)", self.server_name, generation,
        )  # fmt: skip

    @staticmethod
    def _fresh_generation() -> int:
        return int(time.time() * 1000)

    def make_key(self, key, version=None) -> str:
        # Inside an operation the generation is fresh (``_follow_generation`` ran first); outside one
        # (someone asking for a key's name) it is this process's last known one.
        generation = self.link.generation or 0
        return super().make_key(f"g{generation}:{key}", version=version)

    # --- The cache API --------------------------------------------------------------------------------------

    def get(self, key, default=None, version=None):
        return self._guarded(
            False, lambda: default, lambda: super(ResilientRedisCache, self).get(key, default, version)
        )

    def get_many(self, keys, version=None):
        return self._guarded(False, dict, lambda: super(ResilientRedisCache, self).get_many(keys, version))

    def has_key(self, key, version=None):
        return self._guarded(False, lambda: False, lambda: super(ResilientRedisCache, self).has_key(key, version))

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(
            False, lambda: False, lambda: super(ResilientRedisCache, self).touch(key, timeout, version)
        )

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(
            True, lambda: None, lambda: super(ResilientRedisCache, self).set(key, value, timeout, version)
        )

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(
            True, lambda: list(data), lambda: super(ResilientRedisCache, self).set_many(data, timeout, version)
        )

    def delete(self, key, version=None):
        return self._guarded(True, lambda: False, lambda: super(ResilientRedisCache, self).delete(key, version))

    def delete_many(self, keys, version=None):
        return self._guarded(True, lambda: None, lambda: super(ResilientRedisCache, self).delete_many(keys, version))

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded(
            True,
            lambda: self.fallback.add(key, value, timeout, version),
            lambda: super(ResilientRedisCache, self).add(key, value, timeout, version),
        )

    def incr(self, key, delta=1, version=None):
        return self._guarded(
            True,
            lambda: self.fallback.incr(key, delta, version),
            lambda: super(ResilientRedisCache, self).incr(key, delta, version),
        )

    def clear(self):
        def flush() -> bool:
            flushed = super(ResilientRedisCache, self).clear()
            self.link.generation_read_at = -math.inf  # the generation went with everything else
            return flushed

        return self._guarded(True, lambda: False, flush)

    # --- For /healthz -------------------------------------------------------------------------------------

    def ping(self) -> None:
        """Ask Redis whether it answers, breaker or not (raises what redis-py raises). An answer ends an
        outage as any operation does: the generation moves on first if writes were dropped."""
        try:
            self._follow_generation()
            self._cache.get_client(None, write=True).ping()
        except CACHE_ERRORS as exc:
            self.link.failed(exc, self.retry_after)
            raise
        self.link.answered()
