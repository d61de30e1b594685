"""The verifier's wire format: one request per line from Dovecot's Lua passdb, one answer line back.

Fields are separated by TAB; inside a field every byte below 0x20, 0x7F and ``%`` is written as
``%XX`` (so a password may hold any character). Requests::

    VERIFY  <id> <service> <login> <remote-ip> <password>   is this password good for this login?
    MAILBOX <id> ok|failed <service> <login> <remote-ip>    how the site's own passdb judged a mailbox password
    PING    <id>                                            is the verifier up, and what does it serve?

Answers (``<id>`` repeats the request's, so a late answer can never be taken for the next one)::

    OK <id> <user>        an app password: log in as <user> (the name the mail server knows)
    NEXT <id>             not an app password; the mailbox password may still be tried (site passdb)
    FAIL <id> <reason>    refused (wrong, revoked, suspended, wrong scope, deactivated, policy)
    UNKNOWN <id>          no such user (and mailbox passwords are refused)
    TEMPFAIL <id> <why>   the verifier cannot decide now (no data loaded yet): never a success
    DONE <id>             a MAILBOX report was taken
    PONG <id> <version> <users> <passwords> <age-seconds>
    ERROR <id> <message>  the request was malformed; the server then closes the connection

Parsing is pure (bytes in, a request object out) and refuses anything outside the limits below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

MAX_LINE = 2048  # bytes, newline included: a login of 254 and a password of 1024 fit, encoded
MAX_PASSWORD = 1024
MAX_LOGIN = 254
_ID = re.compile(rb"^[0-9A-Za-z]{1,20}$")
_SERVICE = re.compile(r"^[a-z0-9-]{1,32}$")
_IP = re.compile(r"^[0-9A-Fa-f:.]{0,64}$")
_ENCODE = re.compile(rb"[\x00-\x1f\x7f%]")


class ProtocolError(ValueError):
    def __init__(self, message: str, request_id: str = "") -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True)
class Verify:
    id: str
    service: str
    login: str
    remote_ip: str
    password: str

    def __repr__(self) -> str:  # never the password, not even in a traceback
        return f"Verify(id={self.id!r}, service={self.service!r}, login={self.login!r}, ip={self.remote_ip!r})"


@dataclass(frozen=True)
class MailboxReport:
    id: str
    ok: bool
    service: str
    login: str
    remote_ip: str


@dataclass(frozen=True)
class Ping:
    id: str


Request = Verify | MailboxReport | Ping


def encode(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogateescape")
    return _ENCODE.sub(lambda m: b"%%%02X" % m.group(0)[0], raw)


def _decode(field: bytes, name: str, request_id: str) -> str:
    if b"%" in field and re.search(rb"%(?![0-9A-Fa-f]{2})", field):
        raise ProtocolError(f"bad escape in {name}", request_id)
    # surrogateescape: a password in another encoding is still compared byte for byte, never an error.
    return unquote_to_bytes(field).decode("utf-8", "surrogateescape")


def _fields(line: bytes) -> list[bytes]:
    if len(line) > MAX_LINE:
        raise ProtocolError("line too long")
    if not line.endswith(b"\n"):
        raise ProtocolError("line not terminated")
    return line[:-1].rstrip(b"\r").split(b"\t")


def parse(line: bytes) -> Request:
    """One request line (with its newline) -> a request, or ``ProtocolError``."""
    fields = _fields(line)
    verb = fields[0]
    request_id = fields[1].decode("ascii", "replace") if len(fields) > 1 and _ID.match(fields[1]) else ""
    if len(fields) < 2 or not request_id:
        raise ProtocolError("missing or bad request id")
    expected = {b"VERIFY": 6, b"MAILBOX": 6, b"PING": 2}.get(verb)
    if expected is None:
        raise ProtocolError(f"unknown command {verb[:20].decode('ascii', 'replace')!r}", request_id)
    if len(fields) != expected:
        raise ProtocolError(f"{verb.decode()} takes {expected - 1} fields, got {len(fields) - 1}", request_id)
    if verb == b"PING":
        return Ping(request_id)
    if verb == b"VERIFY":
        service, login, remote_ip, password = (
            _decode(f, name, request_id)
            for f, name in zip(fields[2:], ("service", "login", "remote ip", "password"), strict=True)
        )
        _check(service, login, remote_ip, request_id)
        if len(password.encode("utf-8", "surrogateescape")) > MAX_PASSWORD:
            raise ProtocolError("password too long", request_id)
        return Verify(request_id, service, login, remote_ip, password)
    outcome, service, login, remote_ip = (
        _decode(f, name, request_id)
        for f, name in zip(fields[2:], ("outcome", "service", "login", "remote ip"), strict=True)
    )
    if outcome not in ("ok", "failed"):
        raise ProtocolError("MAILBOX outcome must be ok or failed", request_id)
    _check(service, login, remote_ip, request_id)
    return MailboxReport(request_id, outcome == "ok", service, login, remote_ip)


def _check(service: str, login: str, remote_ip: str, request_id: str) -> None:
    if not _SERVICE.match(service):
        raise ProtocolError("bad service name", request_id)
    if not login or len(login) > MAX_LOGIN:
        raise ProtocolError("bad login name", request_id)
    if not _IP.match(remote_ip):
        raise ProtocolError("bad remote ip", request_id)


def answer(verb: str, request_id: str, *fields: str) -> bytes:
    """An answer line: ``answer("OK", "7", "erin@example.com")`` -> ``b"OK\\t7\\terin@example.com\\n"``."""
    return b"\t".join([verb.encode("ascii"), request_id.encode("ascii"), *(encode(f) for f in fields)]) + b"\n"
