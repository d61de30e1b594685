"""A real DNS server for the block-list tests and the benchmark: UDP on 127.0.0.1, a free port.

It answers like block lists and a recursive resolver in front of them would:

- ``ip_zone`` / ``domain_zone``: listed entries (A codes and a TXT reason), with the
  RFC 5782 test entries (127.0.0.2 / ``TEST``) unless told otherwise;
- ``mode="everything"``: every name is listed (a dead list gone wild);
- ``mode="refuse"`` with ``refusal``: every query gets that "query refused" code;
- ``mode="silent"``: never answers; ``mode="servfail"``: answers SERVFAIL;
- ``mode="truncate"``: UDP answers are truncated (TC), the full answer comes over TCP;
- ``rewrite_nxdomain=True``: a resolver that turns NXDOMAIN into an advertising address;
- ``delay``: seconds before each answer is sent (the benchmark uses 0.02);
- ``cache=True``: answer a question seen before from a cache (the benchmark: it measures the clients,
  so the server must not be the slowest part; dnslib takes about 0.1 ms to build an answer);
- ``records``: other names, e.g. a domain's MX and the mail host's A/AAAA.

``server.start()`` runs it in a thread of this process; ``start_process()`` in a
child process (the benchmark, so the server does not share the GIL with the client).
"""

from __future__ import annotations

import asyncio
import ipaddress
import multiprocessing
import socket
import threading
from dataclasses import dataclass, field

from dnslib import AAAA, MX, QTYPE, RCODE, RR, TXT, A, DNSRecord

REWRITE_ADDRESS = "198.51.100.7"


def reverse_name(address: str) -> str:
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return ".".join(reversed(str(ip).split(".")))
    return ".".join(reversed(ip.exploded.replace(":", "")))


@dataclass
class Zone:
    name: str
    entries: dict[str, tuple[list[str], str]] = field(default_factory=dict)  # label -> (codes, txt)
    mode: str = "normal"  # normal | everything | refuse | silent | servfail | truncate
    refusal: str = ""

    def answer(self, label: str) -> tuple[list[str], str] | None:
        if self.mode == "everything":
            return ["127.0.0.2"], "Listed: everything is listed here"
        if self.mode == "refuse":
            return [self.refusal], "Query refused. Use a local resolver."
        return self.entries.get(label.lower())


def ip_zone(
    name: str,
    listed: dict[str, list[str] | tuple[list[str], str]] | None = None,
    *,
    test_entry: bool = True,
    ipv6_test_entry: bool = True,
    mode: str = "normal",
    refusal: str = "",
) -> Zone:
    """``listed`` maps an IPv4/IPv6 address to its codes, or to (codes, TXT reason).

    The RFC 5782 test entries: 127.0.0.2 (``test_entry``) and, for IPv6 lookups, ::FFFF:7F00:2
    (``ipv6_test_entry``).
    """
    entries: dict[str, tuple[list[str], str]] = {}
    if test_entry:
        entries[reverse_name("127.0.0.2")] = (["127.0.0.2"], "RFC 5782 test entry")
    if test_entry and ipv6_test_entry:
        entries[reverse_name("::ffff:7f00:2")] = (["127.0.0.2"], "RFC 5782 IPv6 test entry")
    for address, value in (listed or {}).items():
        codes, txt = value if isinstance(value, tuple) else (value, f"{address} is listed on {name}")
        entries[reverse_name(address)] = (list(codes), txt)
    return Zone(name.lower(), entries, mode, refusal)


def domain_zone(
    name: str,
    listed: dict[str, list[str]] | None = None,
    *,
    test_entry: bool = True,
    mode: str = "normal",
    refusal: str = "",
) -> Zone:
    entries = {"test": (["127.0.0.2"], "RFC 5782 test entry")} if test_entry else {}
    for domain, codes in (listed or {}).items():
        entries[domain.lower()] = (list(codes), f"{domain} is listed on {name}")
    return Zone(name.lower(), entries, mode, refusal)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        self.server.queries += 1
        reply = self.server.cached_reply(data)
        if reply is None or self.transport is None:
            return
        if self.server.delay:
            asyncio.get_running_loop().call_later(self.server.delay, self.transport.sendto, reply, addr)
        else:
            self.transport.sendto(reply, addr)


class DNSServer:
    def __init__(
        self,
        zones: list[Zone],
        *,
        delay: float = 0.0,
        rewrite_nxdomain: bool = False,
        records: dict[tuple[str, str], list[str]] | None = None,
        port: int = 0,
        cache: bool = False,
    ) -> None:
        self.zones = sorted(zones, key=lambda z: -len(z.name))
        self.cache: dict[bytes, bytes | None] | None = {} if cache else None
        self.delay = delay
        self.rewrite_nxdomain = rewrite_nxdomain
        self.records = {(name.lower().rstrip("."), rtype): values for (name, rtype), values in (records or {}).items()}
        self.port = port
        self.queries = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._process: multiprocessing.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # --- answering ------------------------------------------------------------------

    def cached_reply(self, data: bytes) -> bytes | None:
        """``reply``, from the cache when enabled: the answer to the same question with this query's ID."""
        if self.cache is None or len(data) < 12:
            return self.reply(data)
        key = data[2:]
        if key not in self.cache:
            answer = self.reply(data)
            self.cache[key] = None if answer is None else answer[2:]
        cached = self.cache[key]
        return None if cached is None else data[:2] + cached

    def reply(self, data: bytes, *, tcp: bool = False) -> bytes | None:
        try:
            request = DNSRecord.parse(data)
        except Exception:
            return None
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        response = request.reply()
        zone = next((z for z in self.zones if qname == z.name or qname.endswith("." + z.name)), None)
        if zone is not None and zone.mode == "silent":
            return None
        if zone is not None and zone.mode == "servfail":
            response.header.rcode = RCODE.SERVFAIL
            return response.pack()
        if zone is not None and zone.mode == "truncate" and not tcp:
            response.header.tc = 1  # "too big for UDP, ask again over TCP"
            return response.pack()
        found = None
        if zone is not None and qname != zone.name:
            found = zone.answer(qname[: -len(zone.name) - 1])
        if found is not None:
            codes, txt = found
            if qtype in ("A", "ANY"):
                for code in codes:
                    response.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(code), ttl=60))
            if qtype in ("TXT", "ANY"):
                response.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(txt), ttl=60))
            return response.pack()
        if (qname, qtype) in self.records:
            for value in self.records[(qname, qtype)]:
                response.add_answer(RR(request.q.qname, getattr(QTYPE, qtype), rdata=_rdata(qtype, value), ttl=60))
            return response.pack()
        if any(name == qname for name, _ in self.records):
            return response.pack()  # NOERROR, no data of this type
        if self.rewrite_nxdomain and qtype == "A":
            response.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(REWRITE_ADDRESS), ttl=60))
            return response.pack()
        response.header.rcode = RCODE.NXDOMAIN
        return response.pack()

    # --- running ----------------------------------------------------------------------

    async def _serve(self, ready: threading.Event | None = None, conn=None) -> None:
        transport, tcp = await self._bind()
        if ready is not None:
            ready.set()
        if conn is not None:
            conn.send(self.port)
        self._stopped = asyncio.Event()
        try:
            await self._stopped.wait()
        finally:
            transport.close()
            tcp.close()

    async def _bind(self):
        """UDP on a free port, and TCP on the same number (another free UDP port if that TCP port is taken)."""
        loop = asyncio.get_running_loop()
        for _ in range(20):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self), local_addr=("127.0.0.1", self.port)
            )
            # A burst of hundreds of queries must not overflow the default ~200 KiB buffer (a drop is a timeout).
            transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            port = transport.get_extra_info("sockname")[1]
            try:
                tcp = await asyncio.start_server(self._serve_tcp, "127.0.0.1", port)
            except OSError:
                transport.close()
                if self.port:
                    raise
                continue
            self.port = port
            return transport, tcp
        raise RuntimeError("no port free for both UDP and TCP")

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """DNS over TCP (RFC 1035 4.2.2: each message preceded by its 2-byte length)."""
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                self.queries += 1
                reply = self.reply(await reader.readexactly(size), tcp=True)
                if reply is None:
                    continue
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def start(self) -> DNSServer:
        """Serve from a thread of this process until ``stop()``."""
        ready = threading.Event()

        failure: list[BaseException] = []

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self._serve(ready))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="test-dns-server", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            raise RuntimeError(f"the test DNS server did not start: {failure[:1]}")
        return self

    def start_process(self) -> DNSServer:
        """Serve from a child process (its own CPU) until ``stop()``."""
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe()
        self._process = context.Process(target=lambda: asyncio.run(self._serve(conn=child)), daemon=True)
        self._process.start()
        if not parent.poll(10):
            self.stop()
            raise RuntimeError("the test DNS server process did not start")
        self.port = parent.recv()
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.join(5)
            self._process = None
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(5)
            self._thread = None


def _rdata(qtype: str, value: str):
    if qtype == "A":
        return A(value)
    if qtype == "AAAA":
        return AAAA(value)
    if qtype == "MX":
        preference, host = value.split()
        return MX(host, int(preference))
    return TXT(value)
