"""Empty Dovecot's auth cache for people whose logins changed (``doveadm auth cache flush`` by hand).

Speaks Dovecot's auth-master protocol on a master-type listener of the auth service (a
``unix_listener`` whose name ends in ``-master``, e.g. ``portal-master``; ``mail_auth_config``
writes it). The exchange is what ``doveadm auth cache flush`` sends::

    -> VERSION\\t1\\t0
    <- VERSION\\t1\\t1      <- SPID\\t<pid>
    -> CACHE-FLUSH\\t<id>\\t<user>\\t<user>...     (no user: the whole cache)
    <- OK\\t<id>\\t<entries flushed>

Dovecot's cache keys begin with the login name, so one flush per name removes every cached
login of that person, whatever password or service it was for.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


def _escape(value: str) -> str:
    # Dovecot's tab-escaping: \\001 first, then the characters that would break a line.
    return value.replace("\x01", "\x011").replace("\t", "\x01t").replace("\r", "\x01r").replace("\n", "\x01n")


class CacheFlushError(Exception):
    pass


async def flush(socket_path: str, users: list[str] | None, *, timeout: float = 3.0) -> int:
    """Flush ``users`` (None: everything) from Dovecot's auth cache; the number of entries removed."""
    try:
        return await asyncio.wait_for(_flush(socket_path, users), timeout)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        raise CacheFlushError(f"{socket_path}: {exc.__class__.__name__}: {exc}") from exc


async def _flush(socket_path: str, users: list[str] | None) -> int:
    reader, writer = await asyncio.open_unix_connection(socket_path)
    try:
        writer.write(b"VERSION\t1\t0\n")
        fields = [b"CACHE-FLUSH", b"1", *(_escape(user).encode() for user in (users or []))]
        writer.write(b"\t".join(fields) + b"\n")
        await writer.drain()
        while True:
            line = (await reader.readuntil(b"\n")).rstrip(b"\n").split(b"\t")
            if line[0] in (b"VERSION", b"SPID"):
                continue
            if line[:2] == [b"OK", b"1"]:
                return int(line[2]) if len(line) > 2 and line[2].isdigit() else 0
            raise CacheFlushError(f"unexpected answer {line[0][:20]!r}")
    finally:
        writer.close()
