"""The verifier's transport: an asyncio Unix-socket server around the pure decision.

One connection per Dovecot auth worker (the Lua passdb keeps it open), one request line at a time.
The event loop never touches the database: it answers from the in-memory snapshot and notes what
happened in the recorder. Database work (polling the version, loading a snapshot, writing batches,
the heartbeat) runs in one dedicated thread.

Failure modes, each a deliberate answer (docs/mail-clients.md, "When something fails"):

- database unreachable at start: no snapshot, every VERIFY answers TEMPFAIL (Dovecot: "temporary
  failure"; never a success) until the first load succeeds;
- database unreachable later: the last snapshot keeps answering (nobody can change anything in the
  portal meanwhile either); writes are kept in memory and retried; the failure is logged;
- Dovecot's master socket unreachable: the cache flush is retried every poll, and Dovecot's short
  cache TTL bounds how long a revoked password can still work (30 s by default);
- malformed request: ERROR, then the connection is closed (the Lua client reconnects);
- too many connections: the newest is closed at once (Dovecot counts it as a temporary failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime

from accounts.addresses import canonical
from accounts.mailauth import decision, dovecot, protocol, recorder
from accounts.mailauth.decision import Snapshot, Verdict
from portal.mailpath import MailPathService, unix_listener

log = logging.getLogger("accounts.mailauth")

MAX_CONNECTIONS = 512
HEARTBEAT_NAME = "mail_auth"  # the load dashboard's name for this mail-path service
IDLE_SECONDS = 600.0


class Verifier(MailPathService):
    def __init__(
        self,
        *,
        socket_path: str,
        master_socket: str = "",
        socket_mode: int = 0o660,
        socket_group: str = "",
        poll_seconds: float = 1.0,
        write_seconds: float = 10.0,
        full_reload_seconds: float = 300.0,
        load: Callable[[], Snapshot] | None = None,
    ) -> None:
        super().__init__(
            poll_seconds=poll_seconds, write_seconds=write_seconds, full_reload_seconds=full_reload_seconds, log=log,
            thread="mail-auth-db",
        )  # fmt: skip
        self.socket_path = socket_path
        self.master_socket = master_socket
        self.socket_mode = socket_mode
        self.socket_group = socket_group
        self._load = load
        self.snapshot: Snapshot | None = None
        self.recorder = recorder.Recorder()
        self.connections = 0
        self.flush_all = False
        self.flush_names: set[str] = set()

    @property
    def has_data(self) -> bool:
        return self.snapshot is not None

    def without_data(self) -> str:
        return "answers TEMPFAIL"

    # --- the hot path: one request line in, one answer line out (no I/O) --------------------

    def respond(self, line: bytes) -> tuple[bytes, bool]:
        """The answer to one request line, and whether to close the connection afterwards."""
        try:
            request = protocol.parse(line)
        except protocol.ProtocolError as exc:
            return protocol.answer("ERROR", exc.request_id or "0", str(exc)), True
        now = time.time()
        snapshot = self.snapshot
        if isinstance(request, protocol.Verify):
            result = decision.decide(request, snapshot, datetime.fromtimestamp(now, tz=UTC))
            if snapshot is not None:
                self.recorder.note_answer(
                    result,
                    login=request.login,
                    service=request.service,
                    ip=request.remote_ip,
                    now=now,
                    policy=snapshot.policy,
                )
            if result.verdict == Verdict.OK:
                return protocol.answer("OK", request.id, result.login), False
            if result.verdict in (Verdict.NEXT, Verdict.UNKNOWN):
                return protocol.answer(result.verdict, request.id), False
            return protocol.answer(result.verdict, request.id, result.reason), False
        if isinstance(request, protocol.MailboxReport):
            if snapshot is not None:
                user = snapshot.user_for(request.login)
                self.recorder.note_mailbox(
                    user_id=user.id if user else None,
                    email=user.email if user else canonical(request.login),
                    ok=request.ok,
                    service=request.service,
                    ip=request.remote_ip,
                    now=now,
                    policy=snapshot.policy,
                )
            return protocol.answer("DONE", request.id), False
        if snapshot is None:
            return protocol.answer("PONG", request.id, "0", "0", "0", "-1"), False
        age = f"{now - snapshot.loaded_at:.0f}"
        counts = (str(len(snapshot.users_by_id)), str(snapshot.password_count))
        return protocol.answer("PONG", request.id, str(snapshot.version), *counts, age), False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= MAX_CONNECTIONS:
            self._log_error("connections", f"more than {MAX_CONNECTIONS} connections; closing the newest")
            writer.close()
            return
        self.connections += 1
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readuntil(b"\n"), IDLE_SECONDS)
                except (asyncio.IncompleteReadError, TimeoutError):
                    break
                except asyncio.LimitOverrunError:
                    writer.write(protocol.answer("ERROR", "0", "line too long"))
                    break
                response, close = self.respond(line)
                writer.write(response)
                await writer.drain()
                if close:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            self.connections -= 1
            writer.close()

    # --- around it: snapshot refresh, cache flush, batched writes ---------------------------

    async def refresh(self) -> None:
        """Load a new snapshot when the version moved (or a full reload is due), then flush Dovecot."""
        from accounts.mailauth import snapshot as snapshots
        from accounts.models import MailAuthState

        current = self.snapshot
        new = await self._newer(current, MailAuthState.current_version, self._load or snapshots.load)
        if new is not None:
            self.snapshot = new
            changed = snapshots.changed_logins(current, new)
            if changed is None:
                self.flush_all = True
            else:
                self.flush_names |= changed
            log.info("serving version %s: %s users, %s app passwords", new.version, len(new.users_by_id),
                     new.password_count)  # fmt: skip

    async def after_poll(self) -> None:
        await self.flush_dovecot_cache()

    async def flush_dovecot_cache(self) -> None:
        if not self.master_socket or not (self.flush_all or self.flush_names):
            return
        users = None if self.flush_all else sorted(self.flush_names)
        try:
            flushed = await dovecot.flush(self.master_socket, users)
        except dovecot.CacheFlushError as exc:
            self._log_error("flush", f"cannot flush Dovecot's auth cache ({exc}); its TTL still applies")
            return
        log.info("flushed %s Dovecot auth cache entries for %s", flushed, "everyone" if users is None else users)
        self.flush_all = False
        self.flush_names.clear()

    async def write_pending(self) -> None:
        batch = self.recorder.take(time.time())
        if batch:
            try:
                await self._in_db_thread(recorder.write, batch)
            except Exception as exc:
                self.recorder.put_back(batch)
                self._log_error("write", f"cannot write login records ({exc.__class__.__name__}: {exc}); will retry")
        await self._beat(self._heartbeat)

    def _heartbeat(self) -> None:
        from django.utils import timezone

        from accounts.models import MailAuthState
        from portal.models import Heartbeat

        if self.snapshot is not None:  # it can answer logins: the mail-path service contract's "up"
            Heartbeat.beat(HEARTBEAT_NAME)
        MailAuthState.store(
            verifier_seen_at=timezone.now(),
            verifier_version=self.snapshot.version if self.snapshot else None,
            verifier_host=socket.gethostname()[:200],
        )

    # --- life cycle ------------------------------------------------------------------------

    def _listen(self) -> socket.socket:
        return unix_listener(self.socket_path, mode=self.socket_mode, group=self.socket_group, what="verifier")

    async def run(self, ready: Callable[[], None] | None = None) -> None:
        self._take_signals()
        server = await asyncio.start_unix_server(self.handle, sock=self._listen(), limit=protocol.MAX_LINE)
        tasks = [asyncio.create_task(self._poll_loop()), asyncio.create_task(self._write_loop())]
        log.info("mail login verifier listening on %s", self.socket_path)
        if ready:
            ready()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)
            await self._shut_down(tasks)
            log.info("mail login verifier stopped")
