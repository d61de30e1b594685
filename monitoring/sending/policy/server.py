"""The policy service's transport: an asyncio server (TCP or a Unix socket) around the pure decision.

Postfix keeps one connection per smtpd process and sends one request at a time on it. The event loop
never touches the database: it answers from the in-memory snapshot and the counters (this process's
memory, or Redis) and notes what happened in the recorder. Database work (polling the version,
loading a snapshot, writing batches, the heartbeat) runs in one dedicated thread.

Failure modes, each a deliberate answer (docs/sending.md, "When something fails"):

- the service down or not answering: Postfix's ``default_action=DUNNO`` (what ``mail_policy_config``
  prints): mail flows unchecked, the heartbeat stops and the load dashboard, home page and ``/healthz``
  report it; fail closed instead with ``default_action=DEFER`` (docs);
- database unreachable at start: no snapshot, every request is answered ``DUNNO`` (as when down) until
  the first load; later: the last snapshot keeps answering, writes are kept and retried;
- Redis unreachable: counting goes on in this process's memory, and back to Redis once it answers;
- a request without the attributes it needs, or of an unknown type: ``DUNNO`` (counted, audited);
- bytes that are not requests (a line or request too long, too many lines, not ``name=value``): the
  connection is closed without an answer; a client that starts a request and never ends it is closed
  after ``REQUEST_SECONDS``; an idle one after ``IDLE_SECONDS`` (longer than Postfix's ``max_idle``);
- too many connections: the newest is closed at once (Postfix then applies its ``default_action``).
None of these touches another connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accounts.addresses import canonical
from monitoring.sending.policy import protocol, recorder, writer
from monitoring.sending.policy.counters import CountersUnavailable, MemoryCounters
from monitoring.sending.policy.decision import Counts, Kind, Snapshot, authenticated_login, decide
from portal.mailpath import MailPathService, unix_listener

log = logging.getLogger("monitoring.sending.policy")

HEARTBEAT_NAME = "mail_policy"  # the load dashboard's name for this mail-path service (docs/load.md)
MAX_CONNECTIONS = 2048
IDLE_SECONDS = 1200.0  # Postfix closes an idle connection after max_idle (300 s) and any after max_ttl (1000 s)
REQUEST_SECONDS = 10.0  # from a request's first byte to its empty line
MAX_INSTANCES = 50_000  # messages in progress remembered (first recipient or not)
REDIS_RETRY_SECONDS = 5.0
MAX_UNREAD_ANSWERS = 1024 * 1024  # bytes of answers a client has not read yet
NO_COUNTS = Counts()
DUNNO = protocol.answer("DUNNO")


def parse_listen(listen: str) -> tuple[str, str, int]:
    """``127.0.0.1:10040`` -> ("tcp", "127.0.0.1", 10040); ``/run/portal/policy.sock`` -> ("unix", path, 0)."""
    if listen.startswith("/"):
        return "unix", listen, 0
    host, colon, port = listen.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) < 65536 or not host.strip("[]"):
        raise ValueError(f"{listen!r}: expected host:port (127.0.0.1:10040, [::1]:10040) or an absolute socket path")
    return "tcp", host.strip("[]"), int(port)


@dataclass(slots=True)
class Pending:
    """A request waiting for the counters' round trip (Redis)."""

    request: protocol.PolicyRequest
    snapshot: Snapshot | None
    key: str
    first: bool
    now: float


class Connection(asyncio.Protocol):
    """One client (a Postfix smtpd process): requests in, answers out, in order.

    A plain ``asyncio.Protocol`` rather than streams: the requests are parsed from the bytes as they come
    and answered in the same callback, without a coroutine per request (a third of the cost with streams).
    """

    def __init__(self, server: PolicyServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # waiting for the counters (Redis): later requests wait in the buffer
        self.active_at = time.monotonic()
        self.partial_since = 0.0  # when the request now in the buffer began (0: none)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.server.connection_made(self):
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.open_connections.discard(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.server.open_connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.active_at = time.monotonic()
        self.buffer += data
        if not self.busy:
            self.process()

    def process(self) -> None:
        buffer = self.buffer
        while buffer:
            if buffer[0] == 10:  # an empty request: nothing to decide
                del buffer[:1]
                self.server.recorder.note_malformed()
                self.transport.write(DUNNO)
                continue
            end = buffer.find(b"\n\n")
            if end < 0:
                if len(buffer) > protocol.MAX_REQUEST:
                    self.server._log_error("framing", "closed a connection: request longer than the limit")
                    self.close()
                elif not self.partial_since:
                    self.partial_since = time.monotonic()
                return
            block = bytes(buffer[: end + 2])
            del buffer[: end + 2]
            self.partial_since = 0.0
            try:
                answer = self.server.respond_now(block)
            except protocol.FramingError as exc:
                self.server._log_error("framing", f"closed a connection that sent something else than requests: {exc}")
                self.close()
                return
            if isinstance(answer, Pending):
                self.busy = True
                asyncio.get_running_loop().create_task(self.finish(answer))
                return
            self.transport.write(answer)
            if self.transport.get_write_buffer_size() > MAX_UNREAD_ANSWERS:
                # Requests sent without reading the answers: not Postfix, which waits for each one.
                self.server._log_error("framing", "closed a connection that does not read its answers")
                self.close()
                return
        self.partial_since = 0.0

    async def finish(self, pending: Pending) -> None:
        try:
            answer = await self.server.respond_later(pending)
        except Exception:
            log.exception("could not answer a request; closing its connection (Postfix applies default_action)")
            self.close()
            return
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)
            self.busy = False
            self.process()


class PolicyServer(MailPathService):
    def __init__(
        self,
        *,
        listen: str,
        counters: Any = None,
        socket_mode: int = 0o660,
        socket_group: str = "",
        poll_seconds: float = 1.0,
        write_seconds: float = 10.0,
        full_reload_seconds: float = 300.0,
        load: Callable[[], Snapshot] | None = None,
    ) -> None:
        super().__init__(
            poll_seconds=poll_seconds, write_seconds=write_seconds, full_reload_seconds=full_reload_seconds, log=log,
            thread="mail-policy-db",
        )  # fmt: skip
        self.listen = listen
        # In memory: the counters themselves; with Redis: where counting goes on while Redis is unreachable.
        self.memory = counters if isinstance(counters, MemoryCounters) else MemoryCounters()
        self.counters = counters or self.memory
        self.socket_mode = socket_mode
        self.socket_group = socket_group
        self._load = load
        self.snapshot: Snapshot | None = None
        self.recorder = recorder.Recorder()
        self.instances: OrderedDict[str, None] = OrderedDict()
        self.open_connections: set[Connection] = set()
        self.address: tuple | str | None = None  # where it listens (the port chosen for port 0)
        self._redis_down_until = 0.0
        self._last_tidy = time.monotonic()

    @property
    def has_data(self) -> bool:
        return self.snapshot is not None

    def without_data(self) -> str:
        return "answers DUNNO"

    # --- the hot path: one request in, one answer out (no database) --------------------------
    #
    # ``respond_now`` answers at once when the counters are in this process's memory (one mail server);
    # with Redis it returns a ``Pending`` that ``respond_later`` finishes after the counters' round trips.

    def _counters(self, now: float):
        return self.memory if now < self._redis_down_until else self.counters

    def _redis_failed(self, exc: Exception, now: float) -> None:
        self._redis_down_until = now + REDIS_RETRY_SECONDS
        self._log_error("redis", f"cannot reach the counters in Redis ({exc}); counting in memory meanwhile")

    def _status(self) -> bytes:
        snapshot = self.snapshot
        if snapshot is None:
            return protocol.answer("NOT-READY")
        version = ".".join(str(v) for v in snapshot.version)
        age = time.time() - snapshot.loaded_at
        return protocol.answer(f"OK {version} {len(snapshot.senders_by_id)} {age:.0f} {self.counters.name}")

    def respond_now(self, block: bytes) -> bytes | Pending:
        """The answer to one request, or what is left to do after the counters' round trip (Redis).

        Raises ``protocol.FramingError`` for bytes that are not a request."""
        try:
            request = protocol.parse(block)
        except protocol.BadRequest as exc:
            self.recorder.note_malformed()
            self._log_error("bad request", f"answered DUNNO to a request that cannot be decided: {exc}")
            return DUNNO
        if isinstance(request, protocol.StatusRequest):
            return self._status()
        now = time.time()
        snapshot = self.snapshot
        key = ""
        if request.sasl_username and snapshot is not None:
            sender = snapshot.sender_for(request.sasl_username)
            key = sender.email if sender is not None else canonical(request.sasl_username)
            if authenticated_login(request) and not (sender is not None and sender.suspended):
                first = not request.instance or request.instance not in self.instances
                pending = Pending(request, snapshot, key, first, now)
                counters = self._counters(now)
                if counters is not self.memory:
                    return pending
                # Recipients tried are told apart by their lower-cased form: cheap, and close enough to count.
                counts = self.memory.read(key, request.recipient.lower(), now)
                answer, accepted, message = self._conclude(pending, counts)
                if accepted:
                    self.memory.add(key, now, message=message)
                return answer
        return self._conclude(Pending(request, snapshot, key, True, now), NO_COUNTS)[0]

    async def respond_later(self, pending: Pending) -> bytes:
        request, now = pending.request, pending.now
        try:
            counts = await self.counters.read(pending.key, request.recipient.lower(), now)
        except CountersUnavailable as exc:
            self._redis_failed(exc, now)
            counts = self.memory.read(pending.key, request.recipient.lower(), now)
        answer, accepted, message = self._conclude(pending, counts)
        if accepted:
            counters = self._counters(now)
            try:
                if counters is self.memory:  # Redis failed at the read: this one is counted here
                    self.memory.add(pending.key, now, message=message)
                else:
                    await counters.add(pending.key, now, message=message)
            except CountersUnavailable as exc:
                self._redis_failed(exc, now)
                self.memory.add(pending.key, now, message=message)
        return answer

    async def respond(self, block: bytes) -> bytes:
        answer = self.respond_now(block)
        return answer if isinstance(answer, bytes) else await self.respond_later(answer)

    def _conclude(self, pending: Pending, counts: Counts) -> tuple[bytes, bool, bool]:
        """Decide, note it; (answer, a recipient let through to count, and it starts a message)."""
        request, snapshot = pending.request, pending.snapshot
        verdict = decide(request, snapshot, counts, first_recipient=pending.first)
        kind = verdict.kind
        if kind == Kind.ACCEPTED and request.instance:
            self.instances[request.instance] = None
            if len(self.instances) > MAX_INSTANCES:
                self.instances.popitem(last=False)
        elif kind == Kind.MESSAGE:
            self.instances.pop(request.instance, None)
        self.recorder.note(verdict, request, pending.key, pending.now, counts.tried_hour)
        if kind == Kind.BURST and snapshot is not None:
            snapshot.mark_suspended(self.recorder.bursting)
            log.warning("sending of %s suspended: %s recipients tried within an hour (threshold %s)",
                        pending.key, round(counts.tried_hour), verdict.limit)  # fmt: skip
        answer = DUNNO if verdict.action == "DUNNO" else protocol.answer(verdict.action)
        return answer, kind == Kind.ACCEPTED, verdict.new_message

    def connection_made(self, connection: Connection) -> bool:
        if len(self.open_connections) >= MAX_CONNECTIONS:
            self._log_error("connections", f"more than {MAX_CONNECTIONS} connections; closing the newest")
            return False
        self.open_connections.add(connection)
        return True

    @property
    def connections(self) -> int:
        return len(self.open_connections)

    async def _sweep_loop(self) -> None:
        """Close connections idle for too long, or in the middle of a request for too long."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), min(1.0, REQUEST_SECONDS / 2))
            now = time.monotonic()
            for connection in list(self.open_connections):
                if connection.partial_since and now - connection.partial_since > REQUEST_SECONDS:
                    self._log_error("slow", "closed a connection whose request did not end in time")
                    connection.close()
                elif now - connection.active_at > IDLE_SECONDS:
                    connection.close()

    # --- around it: snapshot refresh, batched writes, heartbeat ------------------------------

    async def refresh(self) -> None:
        """Load a new snapshot when a version moved (or a full reload is due)."""
        from monitoring.sending.policy import snapshot as snapshots

        new = await self._newer(self.snapshot, snapshots.version, self._load or snapshots.load)
        if new is not None:
            # Suspensions found here but not yet in the database stay in force across the reload.
            new.mark_suspended(self.recorder.bursting)
            self.snapshot = new
            log.info("serving version %s: %s senders", new.version, len(new.senders_by_id))

    async def write_pending(self) -> None:
        batch = self.recorder.take()
        if batch:
            try:
                failed = await self._in_db_thread(writer.write, batch)
            except Exception as exc:
                self.recorder.put_back(batch)
                self._log_error("write", f"cannot write sending totals ({exc.__class__.__name__}: {exc}); will retry")
            else:
                self.recorder.written(batch)
                if failed:
                    retry = recorder.Batch(bursts=failed)
                    self.recorder.bursting |= {burst.user_id for burst in failed}
                    self.recorder.put_back(retry)
        now = time.time()
        if time.monotonic() - self._last_tidy >= 600:
            self._last_tidy = time.monotonic()
            self.memory.forget_idle(now)
            self.recorder.forget_alerts_before(now)
        await self._beat(self._heartbeat)

    def _heartbeat(self) -> None:
        from django.utils import timezone

        from monitoring.sending.models import SendingState
        from portal.models import Heartbeat

        if self.snapshot is not None:  # it can decide: the mail-path service contract's "up"
            Heartbeat.beat(HEARTBEAT_NAME)
        SendingState.store(
            service_seen_at=timezone.now(),
            service_host=socket.gethostname()[:200],
            service_listen=self.listen[:300],
            service_counters=self.counters.name,
        )

    # --- life cycle ------------------------------------------------------------------------

    async def _start_server(self) -> asyncio.AbstractServer:
        kind, where, port = parse_listen(self.listen)
        loop = asyncio.get_running_loop()
        if kind == "unix":
            server = await loop.create_unix_server(
                lambda: Connection(self),
                sock=unix_listener(where, mode=self.socket_mode, group=self.socket_group, what="policy service"),
            )
            self.address = where
        else:
            server = await loop.create_server(lambda: Connection(self), where, port, reuse_address=True, backlog=1024)
            self.address = server.sockets[0].getsockname()[:2]
        return server

    async def run(self, ready: Callable[[], None] | None = None) -> None:
        self._take_signals()
        # The database thread (batches, snapshot loads) runs Python code too: by default it may keep the GIL
        # for 5 ms at a time, which Postfix would see as 5 ms answers. Half a millisecond bounds that wait.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        server = await self._start_server()
        tasks = [asyncio.create_task(loop()) for loop in (self._poll_loop, self._write_loop, self._sweep_loop)]
        log.info("Postfix policy service listening on %s (counters: %s)", self.address, self.counters.name)
        if ready:
            ready()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for connection in list(self.open_connections):
                connection.close()
            if isinstance(self.address, str):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.address)
            await self._shut_down(tasks)
            await self.counters.close()
            sys.setswitchinterval(switch_interval)
            log.info("Postfix policy service stopped")
