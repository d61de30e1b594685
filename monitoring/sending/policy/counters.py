"""The senders' counters: in this process's memory (one mail server), or in Redis (several sharing limits).

Four figures per login, each over a sliding window estimated from two fixed windows (the current one,
plus the previous one weighted by the part of it still inside the window; Cloudflare's and Redis's
usual rate-limit estimate, exact within a window and never off by more than the previous window's
share at its edge):

- recipients let through in the last hour and the last day (the limits);
- messages started in the last minute (a message counts at its first recipient let through);
- distinct recipients *tried* in the last hour, whatever the answer (the burst rule: a hijacked account
  goes on trying after it is deferred, while a mail program retrying a deferred message tries the same
  recipients again and does not add to it). Redis keeps them as HyperLogLogs (0.8 % error).

Reading happens before the decision and adding after it, so two mail servers (or two Postfix
processes) asking at the same instant may both be let through the last free place: a limit can be
passed by at most the number of requests in flight. The counters decide nothing themselves.

With Redis, an error or a timeout raises ``CountersUnavailable``; the server then counts in memory
until Redis answers again (each mail server on its own limits meanwhile: docs/sending.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitoring.sending.policy.decision import Counts

MINUTE, HOUR, DAY = 60, 3600, 86400
MAX_TRIED = 20_000  # distinct recipients remembered per login and hour (far above any burst threshold)
KEY_PREFIX = "portal:sending:"


def make(url: str) -> MemoryCounters | RedisCounters:
    """The counters ``MAIL_POLICY_COUNTERS`` names: ``memory`` or a Redis URL."""
    return MemoryCounters() if url == "memory" else RedisCounters(url)


class CountersUnavailable(Exception):
    pass


def _estimate(current: float, previous: float, now: float, width: int) -> float:
    return current + previous * (1.0 - (now % width) / width)


@dataclass(slots=True)
class _Window:
    """One figure over fixed windows of ``width`` seconds: the current window's count and the previous one's."""

    bucket: int = -1
    current: int = 0
    previous: int = 0

    def roll(self, bucket: int) -> None:
        if bucket != self.bucket:
            self.previous = self.current if bucket == self.bucket + 1 else 0
            self.current = 0
            self.bucket = bucket


@dataclass(slots=True)
class _Login:
    hour: _Window = field(default_factory=_Window)
    day: _Window = field(default_factory=_Window)
    minute: _Window = field(default_factory=_Window)
    tried_bucket: int = -1
    tried: set[str] = field(default_factory=set)
    tried_previous: int = 0
    seen: float = 0.0


class MemoryCounters:
    """In this process (one mail server): plain calls, no round trip (``RedisCounters``' are coroutines)."""

    name = "memory"

    def __init__(self) -> None:
        self.logins: dict[str, _Login] = {}

    def _login(self, login: str, now: float) -> _Login:
        entry = self.logins.get(login)
        if entry is None:
            entry = self.logins[login] = _Login()
        entry.seen = now
        entry.hour.roll(int(now // HOUR))
        entry.day.roll(int(now // DAY))
        entry.minute.roll(int(now // MINUTE))
        bucket = int(now // HOUR)
        if bucket != entry.tried_bucket:
            entry.tried_previous = len(entry.tried) if bucket == entry.tried_bucket + 1 else 0
            entry.tried = set()
            entry.tried_bucket = bucket
        return entry

    def read(self, login: str, recipient: str, now: float) -> Counts:
        """The login's figures before this recipient, with the recipient noted as tried."""
        entry = self._login(login, now)
        if len(entry.tried) < MAX_TRIED:
            entry.tried.add(recipient)
        return Counts(
            _estimate(entry.hour.current, entry.hour.previous, now, HOUR),
            _estimate(entry.day.current, entry.day.previous, now, DAY),
            _estimate(entry.minute.current, entry.minute.previous, now, MINUTE),
            _estimate(len(entry.tried), entry.tried_previous, now, HOUR),
        )

    def add(self, login: str, now: float, *, message: bool) -> None:
        """One recipient let through (and, with ``message``, the start of a message)."""
        entry = self._login(login, now)
        entry.hour.current += 1
        entry.day.current += 1
        if message:
            entry.minute.current += 1

    def forget_idle(self, now: float) -> int:
        """Drop logins not seen for two days (their windows are empty anyway); the number dropped."""
        idle = [login for login, entry in self.logins.items() if now - entry.seen > 2 * DAY]
        for login in idle:
            del self.logins[login]
        return len(idle)

    async def close(self) -> None:
        pass


class RedisCounters:
    """The same figures in Redis, shared by every policy service that uses the same Redis database."""

    name = "redis"

    def __init__(self, url: str, *, timeout: float = 0.5, prefix: str = KEY_PREFIX) -> None:
        import redis.asyncio

        self.url = url
        self.prefix = prefix
        self.client = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, max_connections=64
        )

    def _keys(self, login: str, now: float) -> tuple[str, ...]:
        base = f"{self.prefix}{{{login}}}:"
        hour, day, minute = int(now // HOUR), int(now // DAY), int(now // MINUTE)
        return (
            f"{base}rh:{hour}",
            f"{base}rh:{hour - 1}",
            f"{base}rd:{day}",
            f"{base}rd:{day - 1}",
            f"{base}mm:{minute}",
            f"{base}mm:{minute - 1}",
            f"{base}th:{hour}",
            f"{base}th:{hour - 1}",
        )

    async def read(self, login: str, recipient: str, now: float) -> Counts:
        import redis

        keys = self._keys(login, now)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.pfadd(keys[6], recipient)
                pipe.expire(keys[6], 2 * HOUR)
                pipe.mget(keys[:6])
                pipe.pfcount(keys[6])
                pipe.pfcount(keys[7])
                _, _, values, tried, tried_previous = await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise CountersUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
        hour, hour_previous, day, day_previous, minute, minute_previous = (int(v or 0) for v in values)
        return Counts(
            _estimate(hour, hour_previous, now, HOUR),
            _estimate(day, day_previous, now, DAY),
            _estimate(minute, minute_previous, now, MINUTE),
            _estimate(tried, tried_previous, now, HOUR),
        )

    async def add(self, login: str, now: float, *, message: bool) -> None:
        import redis

        keys = self._keys(login, now)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.incr(keys[0])
                pipe.expire(keys[0], 2 * HOUR)
                pipe.incr(keys[2])
                pipe.expire(keys[2], 2 * DAY)
                if message:
                    pipe.incr(keys[4])
                    pipe.expire(keys[4], 2 * MINUTE)
                await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise CountersUnavailable(f"{exc.__class__.__name__}: {exc}") from exc

    async def ping(self) -> bool:
        import redis

        try:
            return bool(await self.client.ping())
        except (redis.RedisError, OSError):
            return False

    def forget_idle(self, now: float) -> int:
        return 0  # Redis expires the keys itself

    async def close(self) -> None:
        await self.client.aclose()
