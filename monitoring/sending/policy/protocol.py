"""Postfix's policy delegation protocol (SMTPD_POLICY_README): the wire format, nothing else.

Postfix sends one request as ``name=value`` lines ended by an empty line, and reads one answer,
``action=<what to do>`` and an empty line. One connection carries many requests, one at a time::

    request=smtpd_access_policy
    protocol_state=RCPT
    sasl_username=erin@example.com
    sender=erin@example.com
    recipient=bob@example.org
    client_address=192.0.2.7
    instance=1a2b.5e6f7a8b.1
    (empty line)

Attributes the service does not use are read and ignored, as the protocol asks. The limits below are
far above anything Postfix sends (its longest values are certificate names); a block that breaks
them is not Postfix, and the transport drops the connection (``FramingError``). A block that is
well framed but makes no sense (no ``request``, an unknown request type, a bad number) is a
``BadRequest``: it is answered ``DUNNO``, the same as Postfix's own ``default_action`` when the
service cannot answer, so a broken request never blocks or opens anything the service is down for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE = 2048  # bytes of one name=value line, newline included
MAX_LINES = 100  # attributes in one request (Postfix 3.7 sends about 40)
MAX_REQUEST = 32 * 1024  # bytes of one request, for the transport's read limit
REQUEST_TYPE = "smtpd_access_policy"
# Not Postfix's: ``request=portal_status`` asks what the service serves (``mail_policy_server --ping``,
# the tests); the answer is one ``action=`` line like any other, so the framing stays the same.
STATUS_TYPE = "portal_status"

# The attributes the decision reads; the others are checked for framing but never decoded. The scan is
# done by regular expressions over the whole request (in C), not line by line in Python: the service
# answers tens of thousands of requests a second.
_NAMES = [
    "request",
    "protocol_state",
    "protocol_name",
    "sasl_username",
    "sender",
    "recipient",
    "recipient_count",
    "client_address",
    "client_name",
    "helo_name",
    "instance",
    "policy_context",
    "size",
]
_WANTED = re.compile(rb"^(" + b"|".join(name.encode() for name in _NAMES) + rb")=([^\n]*)$", re.MULTILINE)
# A whole request of name=value lines (a name up to 100 bytes before the first "=", no NUL anywhere); the
# limit on a line's length is checked separately.
_REQUEST = re.compile(rb"(?:[^=\n\x00]{1,100}=[^\n\x00]*\n)*[^=\n\x00]{1,100}=[^\n\x00]*")


class FramingError(ValueError):
    """The bytes are not policy requests (too long, too many lines, not ``name=value``): close the connection."""


class BadRequest(ValueError):
    """A well-framed request that cannot be decided (missing or bad attributes): answered ``DUNNO``."""


@dataclass(frozen=True, slots=True)
class StatusRequest:
    pass


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    protocol_state: str
    sasl_username: str = ""
    sender: str = ""
    recipient: str = ""
    recipient_count: int = 0
    client_address: str = ""
    client_name: str = ""
    helo_name: str = ""
    instance: str = ""
    policy_context: str = ""
    protocol_name: str = ""
    size: int = 0


def _text(raw: bytes) -> str:
    # SMTPUTF8 addresses arrive as UTF-8; anything else is kept byte for byte (never an exception).
    return raw.decode("utf-8", "surrogateescape")


def _number(raw: bytes, name: str) -> int:
    if not raw:
        return 0
    if not raw.isdigit() or len(raw) > 12:
        raise BadRequest(f"{name} is not a number")
    return int(raw)


def attributes(block: bytes) -> dict[bytes, bytes]:
    """The attributes of one request (its lines without the ending empty line); ``FramingError`` on junk."""
    if len(block) > MAX_REQUEST:
        raise FramingError("request too long")
    body = block[:-2] if block.endswith(b"\n\n") else block[:-1] if block.endswith(b"\n") else block
    if not body:
        return {}
    if body.count(b"\n") >= MAX_LINES:
        raise FramingError(f"more than {MAX_LINES} lines in one request")
    if not _REQUEST.fullmatch(body):
        raise FramingError("not a name=value line")
    if len(body) >= MAX_LINE and max(map(len, body.split(b"\n"))) >= MAX_LINE:
        raise FramingError("line too long")
    found = dict(_WANTED.findall(body))
    if b"\r" in body:
        found = {name: value.rstrip(b"\r") for name, value in found.items()}
    return found


def parse(block: bytes) -> PolicyRequest | StatusRequest:
    """One request (its lines, with or without the ending empty line) -> ``PolicyRequest``.

    Raises ``FramingError`` (drop the connection) or ``BadRequest`` (answer DUNNO)."""
    found = attributes(block)
    request = found.get(b"request")
    if request is None:
        raise BadRequest("no request attribute")
    if request == STATUS_TYPE.encode():
        return StatusRequest()
    if request != REQUEST_TYPE.encode():
        raise BadRequest(f"unknown request type {_text(request[:40])!r}")
    state = found.get(b"protocol_state")
    if not state:
        raise BadRequest("no protocol_state attribute")
    get = found.get
    return PolicyRequest(
        protocol_state=_text(state).upper(),
        sasl_username=_text(get(b"sasl_username", b"")),
        sender=_text(get(b"sender", b"")),
        recipient=_text(get(b"recipient", b"")),
        recipient_count=_number(get(b"recipient_count", b""), "recipient_count"),
        client_address=_text(get(b"client_address", b"")),
        client_name=_text(get(b"client_name", b"")),
        helo_name=_text(get(b"helo_name", b"")),
        instance=_text(get(b"instance", b"")),
        policy_context=_text(get(b"policy_context", b"")),
        protocol_name=_text(get(b"protocol_name", b"")),
        size=_number(get(b"size", b""), "size"),
    )


def answer(action: str) -> bytes:
    """``answer("DUNNO")`` -> ``b"action=DUNNO\\n\\n"``; the text never holds a line break."""
    return b"action=" + action.replace("\n", " ").replace("\r", " ").encode("utf-8", "surrogateescape") + b"\n\n"


def encode(request: dict[str, str]) -> bytes:
    """A request as Postfix writes it (tests and the benchmark speak the protocol with this)."""
    return b"".join(f"{name}={value}\n".encode() for name, value in request.items()) + b"\n"
