"""An asynchronous stub resolver for block-list lookups (dnspython), with a bound on queries in flight.

It sends each query itself (``dns.asyncquery``) instead of going through
``dns.asyncresolver`` so that the answer keeps what a block-list client must
tell apart: NXDOMAIN (not listed) from a timeout or SERVFAIL (unknown, never
clean). Nameservers come from ``DNSBL_NAMESERVERS`` or the system's resolv.conf.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
import struct
from dataclasses import dataclass, field

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

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


class Resolver:
    """Bounded-concurrency A/TXT lookups. Create it inside the event loop that uses it."""

    def __init__(self, config: ResolverConfig) -> None:
        if not config.nameservers:
            raise ValueError("no nameserver: set DNSBL_NAMESERVERS or configure /etc/resolv.conf")
        self.config = config
        self.in_flight = asyncio.Semaphore(config.max_in_flight)
        self.queries = 0
        self._channels: dict[tuple[str, int], list[_Channel]] = {}
        self._opening = asyncio.Lock()

    async def close(self) -> None:
        for channels in self._channels.values():
            for channel in channels:
                channel.close()
        self._channels.clear()

    async def _exchange(
        self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, host: str, port: int, timeout: float
    ) -> dns.message.Message:
        """One UDP exchange over a shared socket; TCP when the answer is truncated."""
        key = (host, port)
        if key not in self._channels:
            async with self._opening:
                if key not in self._channels:
                    loop = asyncio.get_running_loop()
                    family = socket.AF_INET6 if ":" in host else socket.AF_INET
                    opened = []
                    for _ in range(CHANNELS_PER_NAMESERVER):
                        _, channel = await loop.create_datagram_endpoint(_Channel, remote_addr=key, family=family)
                        opened.append(channel)
                    self._channels[key] = opened
        channel = secrets.choice(self._channels[key])
        response = await channel.exchange(qname, rdtype, timeout)
        if response.flags & dns.flags.TC:
            request = dns.message.make_query(qname, rdtype)
            return await dns.asyncquery.tcp(request, host, timeout=timeout, port=port)
        return response

    async def a(self, name: str) -> Answer:
        return await self.query(name, dns.rdatatype.A)

    async def txt(self, name: str) -> Answer:
        return await self.query(name, dns.rdatatype.TXT)

    async def query(self, name: str, rdtype: dns.rdatatype.RdataType) -> Answer:
        async with self.in_flight:
            return await self._query(name, rdtype)

    async def _query(self, name: str, rdtype: dns.rdatatype.RdataType) -> Answer:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.lifetime
        qname = dns.name.from_text(name)
        last = Answer(TIMEOUT, detail="no answer")
        while True:
            timed_out = 0
            for host, port in self.config.nameservers:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return last
                self.queries += 1
                try:
                    response = await self._exchange(qname, rdtype, host, port, min(self.config.timeout, remaining))
                except dns.exception.Timeout:
                    timed_out += 1
                    last = Answer(TIMEOUT, detail=f"no answer from {host} within {self.config.lifetime:g} s")
                    continue
                except (OSError, dns.exception.DNSException) as exc:
                    last = Answer(ERROR, detail=f"{host}: {exc.__class__.__name__}")
                    continue
                rcode = response.rcode()
                if rcode == dns.rcode.NXDOMAIN:
                    return Answer(NXDOMAIN)
                if rcode == dns.rcode.NOERROR:
                    records = [_text(rdata) for rrset in response.answer if rrset.rdtype == rdtype for rdata in rrset]
                    return Answer(ANSWER, records) if records else Answer(NODATA)
                last = Answer(SERVFAIL, detail=f"{host} answered {dns.rcode.to_text(rcode)}")
            if not timed_out:
                return last  # every server gave a definite failure: retrying will not help


# Queries share a few connected UDP sockets per nameserver instead of opening one per query
# (that costs more than the query). Answers are matched by random ID and checked against the
# question; several sockets keep the source port varied.
CHANNELS_PER_NAMESERVER = 4


class _Channel(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, asyncio.Future] = {}

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        if len(data) < 2:
            return
        waiter = self.pending.pop(int.from_bytes(data[:2], "big"), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP "port unreachable" and the like: fail every waiting query on this socket.
        for waiter in self.pending.values():
            if not waiter.done():
                waiter.set_exception(exc)
        self.pending.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.error_received(exc or ConnectionError("socket closed"))

    async def exchange(
        self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, timeout: float
    ) -> dns.message.Message:
        assert self.transport is not None
        while True:
            query_id = secrets.randbelow(65536)
            if query_id not in self.pending:
                break
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self.pending[query_id] = waiter
        # A timer on the future is much cheaper than asyncio.wait_for (which makes a task per query).
        timer = loop.call_later(timeout, _expire, waiter, timeout)
        self.transport.sendto(_query_wire(query_id, qname, rdtype))
        try:
            data = await waiter
        finally:
            timer.cancel()
            self.pending.pop(query_id, None)
        response = dns.message.from_wire(data)
        # (A question RRset is empty, so it is falsy: compare its fields.)
        matches = len(response.question) == 1 and response.flags & dns.flags.QR
        if not matches or response.question[0].name != qname or response.question[0].rdtype != rdtype:
            raise dns.exception.FormError("the answer does not match the question")
        return response

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _query_wire(query_id: int, qname: dns.name.Name, rdtype: int) -> bytes:
    """A recursive query (RD set, no EDNS), built directly: dns.message's builder costs more than the query."""
    return (
        struct.pack("!HHHHHH", query_id, dns.flags.RD, 1, 0, 0, 0)
        + qname.to_wire()
        + struct.pack("!HH", rdtype, dns.rdataclass.IN)
    )


def _expire(waiter: asyncio.Future, timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(dns.exception.Timeout(timeout=timeout))


def _text(rdata: object) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:
        return "".join(part.decode("utf-8", "replace") for part in strings)
    return rdata.to_text()  # type: ignore[attr-defined]
