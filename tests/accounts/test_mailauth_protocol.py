"""The verifier's wire format: requests parsed with limits, answers formatted (no I/O)."""

from __future__ import annotations

import pytest

from accounts.mailauth import protocol
from accounts.mailauth.protocol import MailboxReport, Ping, ProtocolError, Verify, answer, encode, parse


def line(*fields: str | bytes) -> bytes:
    return b"\t".join(f if isinstance(f, bytes) else f.encode() for f in fields) + b"\n"


def test_it_parses_a_verify_request():
    request = parse(line("VERIFY", "7", "imap", "erin@example.com", "127.0.0.1", "abcd-efgh"))
    assert request == Verify("7", "imap", "erin@example.com", "127.0.0.1", "abcd-efgh")


def test_a_password_may_hold_any_character_percent_encoded():
    password = "tab\there 100% new\nline ünï"
    request = parse(line("VERIFY", "1", "smtp", "erin", "::1", encode(password)))
    assert request.password == password
    assert encode(password).count(b"\t") == 0


def test_a_password_in_another_encoding_is_kept_byte_for_byte():
    request = parse(line("VERIFY", "1", "imap", "erin", "", b"caf%E9"))
    assert request.password.encode("utf-8", "surrogateescape") == b"caf\xe9"


def test_the_password_never_shows_in_the_repr():
    request = parse(line("VERIFY", "1", "imap", "erin", "", "s3cret-password"))
    assert "s3cret" not in repr(request)


def test_it_parses_mailbox_reports_and_pings():
    assert parse(line("MAILBOX", "2", "ok", "pop3", "erin", "10.0.0.1")) == MailboxReport(
        "2", True, "pop3", "erin", "10.0.0.1"
    )
    assert parse(line("MAILBOX", "3", "failed", "smtp", "erin", "")).ok is False
    assert parse(line("PING", "9")) == Ping("9")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (line("HELLO", "1"), "unknown command"),
        (line("VERIFY", "1", "imap", "erin", "127.0.0.1"), "takes 5 fields"),
        (line("VERIFY", "", "imap", "erin", "127.0.0.1", "x"), "request id"),
        (line("VERIFY", "1;", "imap", "erin", "127.0.0.1", "x"), "request id"),
        (line("VERIFY", "1", "IMAP!", "erin", "127.0.0.1", "x"), "service"),
        (line("VERIFY", "1", "imap", "", "127.0.0.1", "x"), "login"),
        (line("VERIFY", "1", "imap", "e" * 255, "127.0.0.1", "x"), "login"),
        (line("VERIFY", "1", "imap", "erin", "not an ip", "x"), "remote ip"),
        (line("VERIFY", "1", "imap", "erin", "", "100%"), "bad escape"),
        (line("VERIFY", "1", "imap", "erin", "", "x" * 1025), "password too long"),
        (line("MAILBOX", "1", "maybe", "imap", "erin", ""), "ok or failed"),
        (b"PING\t1", "not terminated"),
        (b"VERIFY\t1\t" + b"x" * protocol.MAX_LINE + b"\n", "too long"),
    ],
)
def test_it_refuses_malformed_requests(raw, message):
    with pytest.raises(ProtocolError, match=message):
        parse(raw)


def test_a_refusal_keeps_the_request_id_when_it_could_be_read():
    with pytest.raises(ProtocolError) as caught:
        parse(line("VERIFY", "42", "imap", "erin", "127.0.0.1"))
    assert caught.value.request_id == "42"


def test_answers_are_one_line_with_the_request_id_and_encoded_fields():
    assert answer("OK", "7", "erin@example.com") == b"OK\t7\terin@example.com\n"
    assert answer("NEXT", "8") == b"NEXT\t8\n"
    assert answer("FAIL", "9", "tab\there") == b"FAIL\t9\ttab%09here\n"
