"""What the long-running mail-path services share: the app-password verifier Dovecot asks
(``accounts.mailauth.server``) and the Postfix policy service (``monitoring.sending.policy.server``).

Each answers from memory in its event loop and does all database work in one dedicated thread: polling
for changes and reloading (``refresh``), writing what it noted in batches (``write_pending``), the
heartbeat of docs/load.md. This base keeps those loops, the thread, the once-a-minute error log, the
Unix socket set-up and the signal handling; a service brings its own ``refresh`` and ``write_pending``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import grp
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings


class MailPathService:
    def __init__(
        self, *, poll_seconds: float, write_seconds: float, full_reload_seconds: float, log: logging.Logger, thread: str
    ) -> None:
        self.poll_seconds = poll_seconds
        self.write_seconds = write_seconds
        self.full_reload_seconds = full_reload_seconds
        self.log = log
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread)
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_heartbeat = 0.0
        self._last_error_log: dict[str, float] = {}

    # --- what a service brings ------------------------------------------------------------------

    async def refresh(self) -> None:
        raise NotImplementedError

    async def write_pending(self) -> None:
        raise NotImplementedError

    async def after_poll(self) -> None:
        """Called after every poll, whether the refresh worked or not (the verifier flushes Dovecot here)."""

    def without_data(self) -> str:
        """What the service does while it has no data (for the log line when the database is unreachable)."""
        return "answers as when it is down"

    @property
    def has_data(self) -> bool:
        raise NotImplementedError

    # --- shared -----------------------------------------------------------------------------------

    async def _in_db_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        def call() -> Any:
            from django.db import connection

            try:
                return function(*args)
            except Exception:
                connection.close()  # a broken connection is reopened on the next call
                raise

        return await asyncio.get_running_loop().run_in_executor(self._db, call)

    def _log_error(self, kind: str, message: str) -> None:
        """Log a recurring problem at most once a minute per kind."""
        now = time.monotonic()
        if now - self._last_error_log.get(kind, -60.0) >= 60.0:
            self._last_error_log[kind] = now
            self.log.error("%s", message)

    async def _newer(self, current: Any, version: Callable[[], Any], load: Callable[[], Any]) -> Any:
        """A new snapshot when ``version()`` differs from ``current.version`` or a full reload is due; else None.

        Reloading every ``full_reload_seconds`` regardless catches changes made without ``save()``."""
        due = current is None or time.time() - current.loaded_at >= self.full_reload_seconds
        if not due:
            due = await self._in_db_thread(version) != current.version
        if not due:
            return None
        new = await self._in_db_thread(load)
        if current is None:
            # Once, with the first data (until then every answer is the no-data one): collect, then move
            # everything alive (Django, the modules, this snapshot) out of the collector's reach, so that
            # its collections walk only what changes later, well under a millisecond. A full collection
            # walks the whole heap with the interpreter's lock held (30 ms here): done at every reload, as
            # before, each reload stalled every answer for that long. A later snapshot stays collectable
            # and replaces this one, which its reference count frees, frozen or not.
            gc.collect()
            gc.freeze()
        return new

    async def _beat(self, heartbeat: Callable[[], None]) -> None:
        """Twice per MAIL_SERVICE_HEARTBEAT_INTERVAL, from the event loop that answers: a stuck loop stops
        beating, and the load dashboard and /healthz report the service down (docs/load.md, the contract)."""
        if time.time() - self._last_heartbeat >= settings.MAIL_SERVICE_HEARTBEAT_INTERVAL / 2:
            with contextlib.suppress(Exception):
                await self._in_db_thread(heartbeat)
                self._last_heartbeat = time.time()

    async def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.refresh()
            except Exception as exc:
                state = "keeps serving the last data" if self.has_data else self.without_data()
                self._log_error("load", f"cannot read the database ({exc.__class__.__name__}: {exc}); {state}")
            await self.after_poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.poll_seconds)

    async def _write_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.write_seconds)
            await self.write_pending()

    def _take_signals(self) -> asyncio.AbstractEventLoop:
        loop = self._loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            # Only the main thread may take signals (the command runs there; tests run it in a thread).
            with contextlib.suppress(ValueError, RuntimeError):
                loop.add_signal_handler(signum, self._stopping.set)
        return loop

    async def _shut_down(self, tasks: list[asyncio.Task]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.write_pending()  # what was noted but not yet written
        self._db.shutdown(wait=True)

    def stop(self) -> None:
        """Stop serving (from any thread)."""
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stopping.set)
        else:
            self._stopping.set()


def unix_listener(path: str, *, mode: int, group: str, what: str) -> socket.socket:
    """A listening Unix socket at ``path`` (a stale one left by a dead process is replaced, a live one is not)."""
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # left behind by a process that died
        else:
            raise SystemExit(f"another {what} is already listening on {path}")
        finally:
            probe.close()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    if group:
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
    os.chmod(path, mode)
    listener.listen(1024)
    return listener
