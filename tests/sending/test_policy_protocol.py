"""The policy protocol's parser: bytes in, a request out, with limits (no server, no database)."""

from __future__ import annotations

import pytest

from monitoring.sending.policy import protocol
from monitoring.sending.policy.protocol import BadRequest, FramingError, PolicyRequest, StatusRequest, parse
from tests.policyservice import end_of_message, rcpt


def test_it_reads_the_attributes_postfix_sends_and_ignores_the_rest():
    request = parse(protocol.encode(rcpt("erin@example.com", recipient="bob@example.org", ccert_subject="x")))
    assert request == PolicyRequest(
        protocol_state="RCPT",
        sasl_username="erin@example.com",
        sender="erin@example.com",
        recipient="bob@example.org",
        client_address="192.0.2.7",
        client_name="laptop.example.net",
        helo_name="laptop",
        instance="1a2b.5e6f7a8b.1",
        protocol_name="ESMTP",
    )


def test_it_reads_the_end_of_a_message_with_its_recipient_count():
    request = parse(protocol.encode(end_of_message("erin@example.com", recipients=12, size="2048")))
    assert (request.protocol_state, request.recipient_count, request.size) == ("END-OF-MESSAGE", 12, 2048)


def test_the_ending_empty_line_is_optional_and_a_carriage_return_is_dropped():
    assert parse(b"request=smtpd_access_policy\r\nprotocol_state=rcpt\r\n").protocol_state == "RCPT"


def test_an_smtputf8_address_is_kept_and_other_bytes_never_raise():
    request = parse("request=smtpd_access_policy\nprotocol_state=RCPT\nsender=jörg@bücher.example\n".encode())
    assert request.sender == "jörg@bücher.example"
    latin1 = parse(b"request=smtpd_access_policy\nprotocol_state=RCPT\nsender=j\xf6rg@example.com\n")
    assert latin1.sender.encode("utf-8", "surrogateescape") == b"j\xf6rg@example.com"


def test_a_status_request_is_the_portals_own():
    assert parse(b"request=portal_status\n\n") == StatusRequest()


@pytest.mark.parametrize(
    ("block", "why"),
    [
        (b"protocol_state=RCPT\n\n", "no request attribute"),
        (b"request=junk_policy\nprotocol_state=RCPT\n\n", "unknown request type"),
        (b"request=smtpd_access_policy\n\n", "no protocol_state"),
        (b"request=smtpd_access_policy\nprotocol_state=\n\n", "no protocol_state"),
        (b"request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient_count=many\n\n", "not a number"),
        (b"request=smtpd_access_policy\nprotocol_state=RCPT\nsize=" + b"9" * 20 + b"\n\n", "not a number"),
        (b"\xff\xfe=\x01\x02\n\n", "no request attribute"),
    ],
)
def test_a_request_that_cannot_be_decided_is_a_bad_request(block, why):
    with pytest.raises(BadRequest, match=why):
        parse(block)


@pytest.mark.parametrize(
    ("block", "why"),
    [
        (b"request=smtpd_access_policy\nthis line has no equals sign\n\n", "not a name=value"),
        (b"=value without a name\n\n", "not a name=value"),
        (b"request=smtpd_access_policy\nsender=a\x00b\n\n", "not a name=value"),
        (b"request=smtpd_access_policy\nsender=" + b"a" * protocol.MAX_LINE + b"\n\n", "line too long"),
        (b"".join(b"x%d=1\n" % n for n in range(protocol.MAX_LINES + 1)) + b"\n", "lines in one request"),
        (b"x=" + b"a" * (protocol.MAX_REQUEST + 1), "request too long"),
        (bytes(range(256)) + b"\n\n", "not a name=value"),
    ],
)
def test_bytes_that_are_not_requests_are_a_framing_error(block, why):
    with pytest.raises(FramingError, match=why):
        parse(block)


def test_an_answer_is_one_action_line_and_an_empty_line_whatever_the_text():
    assert protocol.answer("DUNNO") == b"action=DUNNO\n\n"
    assert protocol.answer("DEFER 4.7.1 two\nlines") == b"action=DEFER 4.7.1 two lines\n\n"
