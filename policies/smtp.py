"""Send one message over SMTP with a commit point just before the end of DATA.

An SMTP server accepts a message only when it receives the final ``<CRLF>.<CRLF>``; if the connection
drops before that, the transaction is aborted and nothing is delivered (RFC 5321, 4.1.1.4). So we stream
the whole message, then call ``commit()`` (which notes in the database that the row was handed over; it is
still "sending"), then send the terminator. Only the server's 250 reply marks the row sent; a refusal puts
it back to pending or failed. A worker killed at any moment before ``commit()`` leaves a row in "sending"
whose mail was certainly not delivered, and sending it again cannot duplicate it; a row killed after the
hand-over is not sent again (policies.dispatch.recover). What remains is a window of one socket write
between the commit and the terminator (a kill there loses that one mail) and a broken connection after the
terminator (the row goes back to pending; if the server had in fact accepted, the retry duplicates it).
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
from collections.abc import Callable

from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address

CRLF = b"\r\n"


def _quote_periods(data: bytes) -> bytes:
    return re.sub(rb"(?m)^\.", b"..", data)


class CommitRefused(Exception):
    """The row was no longer ours at the commit point (another runner took it): the mail was not sent."""


def send_with_commit_point(smtp: smtplib.SMTP, message: EmailMessage, commit: Callable[[], bool]) -> None:
    encoding = message.encoding or "utf-8"
    sender = sanitize_address(message.from_email, encoding)
    recipients = [sanitize_address(address, encoding) for address in message.recipients()]
    data = message.message().as_bytes(linesep="\r\n")
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.mail(sender)
    if code != 250:
        smtp.rset()
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused = {}
    for recipient in recipients:
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    if len(refused) == len(recipients):
        smtp.rset()
        raise smtplib.SMTPRecipientsRefused(refused)
    code, reply = smtp.docmd("DATA")
    if code != 354:
        smtp.rset()
        raise smtplib.SMTPDataError(code, reply)
    body = _quote_periods(data)
    if not body.endswith(CRLF):
        body += CRLF
    smtp.send(body)
    if not commit():
        # Abort the transaction: closing without the terminator discards the message.
        raise CommitRefused
    smtp.send(b"." + CRLF)
    code, reply = smtp.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


class Mailer:
    """One connection reused for a batch of messages, reopened after an error.

    Other email backends (console for ``make run``, locmem, HTTP APIs) send and then commit.
    """

    def __init__(self) -> None:
        self.backend = None

    def send(self, message: EmailMessage, commit: Callable[[], bool] = lambda: True) -> None:
        if self.backend is None:
            self.backend = get_connection(fail_silently=False)
            self.backend.open()
            sock = getattr(getattr(self.backend, "connection", None), "sock", None)
            if sock is not None:
                # The terminator is a separate small write right after the body: without this, Nagle's
                # algorithm holds it until the server's delayed ACK (~40 ms per message).
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if isinstance(self.backend, SMTPBackend):
                send_with_commit_point(self.backend.connection, message, commit)
            else:
                # No commit point to use: hand over only once the backend has the message without an error.
                self.backend.send_messages([message])
                if not commit():
                    raise CommitRefused
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self.backend is not None:
            with contextlib.suppress(Exception):  # a broken connection is being dropped anyway
                self.backend.close()
            self.backend = None
