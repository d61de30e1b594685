"""An asynchronous stub resolver for block-list lookups (dnspython), with a bound on queries in flight.

It sends each query itself (wire format built and read here, see below) instead of going through
``dns.asyncresolver`` so that the answer keeps what a block-list client must
tell apart: NXDOMAIN (not listed) from a timeout or SERVFAIL (unknown, never
clean). Nameservers come from ``DNSBL_NAMESERVERS`` or the system's resolv.conf.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import os
import secrets
import socket
import struct
from dataclasses import dataclass, field

ANSWER, NXDOMAIN, NODATA, TIMEOUT, SERVFAIL, ERROR = "answer", "nxdomain", "nodata", "timeout", "servfail", "error"

# Resolvers that Spamhaus, URIBL and others refuse (query volume): warn when one is in use.
PUBLIC_RESOLVERS = {
    "8.8.8.8": "Google Public DNS",
    "8.8.4.4": "Google Public DNS",
    "2001:4860:4860::8888": "Google Public DNS",
    "2001:4860:4860::8844": "Google Public DNS",
    "1.1.1.1": "Cloudflare",
    "1.0.0.1": "Cloudflare",
    "2606:4700:4700::1111": "Cloudflare",
    "2606:4700:4700::1001": "Cloudflare",
    "9.9.9.9": "Quad9",
    "149.112.112.112": "Quad9",
    "2620:fe::fe": "Quad9",
    "2620:fe::9": "Quad9",
    "208.67.222.222": "OpenDNS",
    "208.67.220.220": "OpenDNS",
    "2620:119:35::35": "OpenDNS",
    "94.140.14.14": "AdGuard DNS",
    "94.140.15.15": "AdGuard DNS",
    "64.6.64.6": "Verisign Public DNS",
    "64.6.65.6": "Verisign Public DNS",
}


def parse_nameserver(item: str) -> tuple[str, int]:
    """``192.0.2.53``, ``192.0.2.53:5353``, ``2001:db8::53`` or ``[2001:db8::53]:5353`` -> (ip, port)."""
    item = item.strip()
    host, port = item, 53
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{item!r}: expected [ipv6]:port")
            port = _port(rest[1:], item)
    elif item.count(":") == 1:
        host, raw_port = item.split(":")
        port = _port(raw_port, item)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{item!r} is not an IP address (optionally with :port)") from None
    return host, port


def _port(raw: str, item: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{item!r}: the port must be a number from 1 to 65535")
    return int(raw)


def system_nameservers() -> list[tuple[str, int]]:
    import dns.resolver  # only when DNSBL_NAMESERVERS is not set: it reads /etc/resolv.conf

    try:
        return [(str(ns), 53) for ns in dns.resolver.Resolver().nameservers]
    except dns.resolver.NoResolverConfiguration:
        return []


@dataclass
class Answer:
    outcome: str  # answer | nxdomain | nodata | timeout | servfail | error
    records: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass
class ResolverConfig:
    nameservers: list[tuple[str, int]]
    timeout: float = 2.0
    lifetime: float = 5.0
    max_in_flight: int = 100

    @classmethod
    def from_settings(cls) -> ResolverConfig:
        from django.conf import settings

        configured = [parse_nameserver(item) for item in settings.DNSBL_NAMESERVERS]
        return cls(
            nameservers=configured or system_nameservers(),
            timeout=settings.DNSBL_TIMEOUT,
            lifetime=settings.DNSBL_LIFETIME,
            max_in_flight=settings.DNSBL_MAX_IN_FLIGHT,
        )

    def describe(self) -> str:
        return ", ".join(f"{host}:{port}" if port != 53 else host for host, port in self.nameservers) or "none"

    def public_resolvers(self) -> list[str]:
        return [f"{host} ({PUBLIC_RESOLVERS[host]})" for host, _ in self.nameservers if host in PUBLIC_RESOLVERS]


# Record types and response codes the block-list client asks for and reads (RFC 1035, RFC 3596).
A, MX, TXT, AAAA = 1, 15, 16, 28
RCODE_NOERROR, RCODE_NXDOMAIN = 0, 3
RCODE_NAMES = {1: "FORMERR", 2: "SERVFAIL", 4: "NOTIMP", 5: "REFUSED"}
_FLAG_QR, _FLAG_TC, _FLAG_RD = 0x8000, 0x0200, 0x0100


class Timeout(Exception):
    """No answer within the per-attempt timeout."""


class LabelTooLong(ValueError):
    """A name that cannot be put in a query (its text is not in the message: it may hold a list's key)."""


class BadAnswer(ValueError):
    """An answer that does not parse, or does not answer the question that was asked."""


class Resolver:
    """Bounded-concurrency A/TXT lookups. Create it inside the event loop that uses it."""

    def __init__(self, config: ResolverConfig) -> None:
        if not config.nameservers:
            raise ValueError("no nameserver: set DNSBL_NAMESERVERS or configure /etc/resolv.conf")
        self.config = config
        self.in_flight = asyncio.Semaphore(config.max_in_flight)
        self.queries = 0
        self._channels: dict[tuple[str, int], list[_Channel]] = {}
        self._next: dict[tuple[str, int], itertools.cycle] = {}
        self._opening = asyncio.Lock()

    async def close(self) -> None:
        for channels in self._channels.values():
            for channel in channels:
                channel.close()
        self._channels.clear()

    async def _exchange(self, question: bytes, rdtype: int, host: str, port: int, timeout: float) -> tuple[int, list]:
        """One UDP exchange over a shared socket; TCP when the answer is truncated. Returns (rcode, records)."""
        key = (host, port)
        if key not in self._channels:
            async with self._opening:
                if key not in self._channels:
                    loop = asyncio.get_running_loop()
                    family = socket.AF_INET6 if ":" in host else socket.AF_INET
                    opened = []
                    for _ in range(CHANNELS_PER_NAMESERVER):
                        transport, channel = await loop.create_datagram_endpoint(
                            _Channel, remote_addr=key, family=family
                        )
                        _widen_receive_buffer(transport.get_extra_info("socket"))
                        opened.append(channel)
                    self._channels[key] = opened
                    self._next[key] = itertools.cycle(opened)
        channel = next(self._next[key])
        data = await channel.exchange(question, timeout)
        truncated, rcode, records = parse_response(data, question, rdtype)
        if truncated:
            return await _tcp_exchange(question, rdtype, host, port, timeout)
        return rcode, records

    async def a(self, name: str) -> Answer:
        return await self.query(name, A)

    async def txt(self, name: str) -> Answer:
        return await self.query(name, TXT)

    async def query(self, name: str, rdtype: int) -> Answer:
        async with self.in_flight:
            return await self._query(name, rdtype)

    async def _query(self, name: str, rdtype: int) -> Answer:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.lifetime
        # A name that cannot be asked (LabelTooLong) raises: the whole check cannot run as configured.
        question = question_wire(name, rdtype)
        last = Answer(TIMEOUT, detail="no answer")
        while True:
            timed_out = 0
            for host, port in self.config.nameservers:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return last
                self.queries += 1
                try:
                    rcode, records = await self._exchange(
                        question, rdtype, host, port, min(self.config.timeout, remaining)
                    )
                except Timeout:
                    timed_out += 1
                    last = Answer(TIMEOUT, detail=f"no answer from {host} within {self.config.lifetime:g} s")
                    continue
                except (OSError, BadAnswer, EOFError) as exc:
                    last = Answer(ERROR, detail=f"{host}: {exc.__class__.__name__}")
                    continue
                if rcode == RCODE_NXDOMAIN:
                    return Answer(NXDOMAIN)
                if rcode == RCODE_NOERROR:
                    return Answer(ANSWER, records) if records else Answer(NODATA)
                last = Answer(SERVFAIL, detail=f"{host} answered {RCODE_NAMES.get(rcode, f'rcode {rcode}')}")
            if not timed_out:
                return last  # every server gave a definite failure: retrying will not help


# Queries share a few connected UDP sockets per nameserver instead of opening one per query
# (that costs more than the query). Answers are matched by random ID and checked against the
# question; several sockets keep the source port varied.
CHANNELS_PER_NAMESERVER = 4


class _Channel(asyncio.DatagramProtocol):
    """One connected UDP socket; its queries wait in ``pending`` by ID with their deadline.

    Timeouts are checked by one timer per socket every ``REAP_EVERY`` seconds instead of a timer per
    query (creating and cancelling thousands of timers cost more CPU than the queries); a query
    times out at most that much late.
    """

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[asyncio.Future, float]] = {}
        self._reaper: asyncio.TimerHandle | None = None
        self._ids: list[int] = []

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        if len(data) < 12:
            return
        entry = self.pending.pop(int.from_bytes(data[:2], "big"), None)
        if entry is not None and not entry[0].done():
            entry[0].set_result(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP "port unreachable" and the like: fail every waiting query on this socket.
        for waiter, _ in self.pending.values():
            if not waiter.done():
                waiter.set_exception(exc)
        self.pending.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.error_received(exc or ConnectionError("socket closed"))
        if self._reaper is not None:
            self._reaper.cancel()

    def _query_id(self) -> int:
        # Unpredictable IDs (off-path spoofing), drawn from the OS in batches: one syscall per query cost more.
        while True:
            if not self._ids:
                pool = os.urandom(2048)
                self._ids = [int.from_bytes(pool[i : i + 2], "big") for i in range(0, len(pool), 2)]
            query_id = self._ids.pop()
            if query_id not in self.pending:
                return query_id

    def _reap(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for query_id in [qid for qid, (_, deadline) in self.pending.items() if deadline <= now]:
            waiter, _ = self.pending.pop(query_id)
            if not waiter.done():
                waiter.set_exception(Timeout())
        self._reaper = loop.call_later(REAP_EVERY, self._reap) if self.pending else None

    async def exchange(self, question: bytes, timeout: float) -> bytes:
        assert self.transport is not None
        query_id = self._query_id()
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self.pending[query_id] = (waiter, loop.time() + timeout)
        if self._reaper is None:
            self._reaper = loop.call_later(min(REAP_EVERY, timeout), self._reap)
        self.transport.sendto(query_wire(query_id, question))
        try:
            return await waiter
        finally:
            # Only our own entry: once answered, the ID is free and may already belong to the next query
            # (removing that one would leave it waiting for ever: no answer and no timeout would find it).
            if self.pending.get(query_id, (None,))[0] is waiter:
                del self.pending[query_id]

    def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        if self.transport is not None:
            self.transport.close()


REAP_EVERY = 0.05  # seconds between timeout checks of a socket's waiting queries


# Hundreds of answers can arrive in one burst; the default receive buffer (about 200 KiB, ~270 datagrams
# counted with their overhead) drops the rest, and a dropped answer is a timeout: "unknown", never clean,
# but a wasted lookup. The kernel caps the request at net.core.rmem_max.
RECEIVE_BUFFER = 1 << 20


def _widen_receive_buffer(sock: socket.socket | None) -> None:
    if sock is None:
        return
    # Not allowed here: the default buffer still works, with more timeouts under load.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


# --- The wire format (RFC 1035 section 4), read and written directly --------------------------------
#
# A block-list answer needs its header, a check of its question and a few A or TXT records. Building
# dnspython message objects for that cost more CPU than everything else a lookup does, so queries are
# built and answers read here; dnspython is used only for the rare truncated answer (TCP).

_HEADER = struct.Struct("!HHHHHH")
_LENGTH = [bytes([n]) for n in range(64)]
_QTYPE_IN = {rdtype: struct.pack("!HH", rdtype, 1) for rdtype in (A, MX, TXT, AAAA)}
_RR_FIXED = struct.Struct("!HHIH")  # type, class, TTL, rdata length


def question_wire(name: str, rdtype: int) -> bytes:
    """The question section for ``name`` (absolute, ASCII) and ``rdtype``, class IN."""
    labels = name.rstrip(".").encode("ascii").split(b".")
    if any(not 0 < len(label) < 64 for label in labels):
        raise LabelTooLong("a DNS label is 1 to 63 characters")
    wire = b"".join([_LENGTH[len(label)] + label for label in labels]) + b"\0"
    if len(wire) > 255:
        raise LabelTooLong("a DNS name is at most 255 bytes")
    return wire + _QTYPE_IN[rdtype]


def query_wire(query_id: int, question: bytes) -> bytes:
    """A recursive query (RD set, no EDNS) carrying ``question`` (from ``question_wire``)."""
    return _HEADER.pack(query_id, _FLAG_RD, 1, 0, 0, 0) + question


def _skip_name(data: bytes, pos: int) -> int:
    """The offset after a (possibly compressed) name at ``pos``."""
    while True:
        if pos >= len(data):
            raise BadAnswer("name runs past the end")
        length = data[pos]
        if length >= 0xC0:
            return pos + 2
        if length > 63:
            raise BadAnswer("bad label")
        if length == 0:
            return pos + 1
        pos += 1 + length


def _read_name(data: bytes, pos: int) -> str:
    labels, jumps = [], 0
    while True:
        if pos >= len(data) or jumps > 20:
            raise BadAnswer("bad name")
        length = data[pos]
        if length >= 0xC0:
            pos = ((length & 0x3F) << 8) | data[pos + 1]
            jumps += 1
            continue
        if length == 0:
            return ".".join(labels) + "."
        labels.append(data[pos + 1 : pos + 1 + length].decode("ascii", "replace"))
        pos += 1 + length


def _rdata_text(data: bytes, start: int, length: int, rdtype: int) -> str:
    rdata = data[start : start + length]
    if rdtype == A and length == 4:
        return ".".join(str(octet) for octet in rdata)
    if rdtype == AAAA and length == 16:
        return str(ipaddress.IPv6Address(rdata))
    if rdtype == TXT:
        parts, pos = [], 0
        while pos < length:
            size = rdata[pos]
            parts.append(rdata[pos + 1 : pos + 1 + size])
            pos += 1 + size
        return printable(b"".join(parts).decode("utf-8", "replace"))
    if rdtype == MX and length >= 3:
        return f"{int.from_bytes(rdata[:2], 'big')} {_read_name(data, start + 2)}"
    raise BadAnswer(f"unexpected rdata for type {rdtype}")


def parse_response(data: bytes, question: bytes, rdtype: int) -> tuple[bool, int, list[str]]:
    """(truncated, rcode, records of ``rdtype``) of an answer to ``question``; BadAnswer if it is none."""
    if len(data) < 12:
        raise BadAnswer("short answer")
    _, flags, qdcount, ancount, _, _ = _HEADER.unpack_from(data)
    end = 12 + len(question)
    # Names compare case-insensitively (RFC 4343); the question is the first name, never compressed.
    if not flags & _FLAG_QR or qdcount != 1 or data[12:end].lower() != question.lower():
        raise BadAnswer("the answer does not match the question")
    if flags & _FLAG_TC:
        return True, flags & 0xF, []
    records, pos = [], end
    try:
        for _ in range(ancount):
            pos = _skip_name(data, pos)
            rtype, _, _, length = _RR_FIXED.unpack_from(data, pos)
            pos += _RR_FIXED.size
            if pos + length > len(data):
                raise BadAnswer("record runs past the end")
            if rtype == rdtype:
                records.append(_rdata_text(data, pos, length, rdtype))
            pos += length
    except (struct.error, IndexError, UnicodeError) as exc:
        raise BadAnswer(str(exc)) from None
    return False, flags & 0xF, records


async def _tcp_exchange(question: bytes, rdtype: int, host: str, port: int, timeout: float) -> tuple[int, list]:
    """The same question over TCP (RFC 7766), for an answer that did not fit in UDP."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        raise Timeout() from None
    try:
        query_id = secrets.randbelow(65536)
        message = query_wire(query_id, question)
        writer.write(len(message).to_bytes(2, "big") + message)
        size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), timeout), "big")
        data = await asyncio.wait_for(reader.readexactly(size), timeout)
    except TimeoutError:
        raise Timeout() from None
    except asyncio.IncompleteReadError as exc:
        raise EOFError("connection closed") from exc
    finally:
        writer.close()
    if int.from_bytes(data[:2], "big") != query_id:
        raise BadAnswer("the answer does not match the query")
    _, rcode, records = parse_response(data, question, rdtype)
    return rcode, records


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\x1b`` for ESC): answers come from strangers, and a
    terminal or a log must not act on escape sequences in them."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
