"""Send email with a commit point just before the end of DATA (the one SMTP path of the outbox engine).

An SMTP server accepts a message only when it receives the final ``<CRLF>.<CRLF>``; if the connection
drops before that, the transaction is aborted and nothing is delivered (RFC 5321, 4.1.1.4). So we stream
the whole message, then call ``commit()`` (which notes in the database that the row was handed over; it is
still "sending"), then send the terminator. Only the server's 250 reply marks the row sent; a refusal puts
it back to pending or failed. A worker killed at any moment before ``commit()`` leaves a row in "sending"
whose mail was certainly not delivered, and sending it again cannot duplicate it; a row killed after the
hand-over is not sent again: it reads "delivery uncertain" (``portal.sending.recover_abandoned``) until IT
staff send it again. A broken connection after the terminator puts the row back to pending; if the server
had in fact accepted, the retry duplicates it.

Once DATA has started, the only clean way out is to drop the connection: a QUIT would be read by the server
as more message text, and the client would then wait ``EMAIL_TIMEOUT`` for an answer that never comes.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
from collections.abc import Callable

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address

CRLF = b"\r\n"


def _quote_periods(data: bytes) -> bytes:
    return re.sub(rb"(?m)^\.", b"..", data)


class CommitRefused(Exception):
    """The row was no longer ours at the commit point (another runner took it): the mail was not sent."""


def build_email(
    subject: str, text: str, html: str, to: list[str], *, cc: list[str] | None = None, message_id: str = ""
) -> EmailMultiAlternatives:
    """A multipart (text + HTML) email from already rendered parts; a stable Message-ID if given."""
    headers = {"Message-ID": message_id} if message_id else {}
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, to, cc=cc or [], headers=headers)
    if html:
        message.attach_alternative(html, "text/html")
    return message


def message_id(name: str) -> str:
    """A stable Message-ID, so that a mail client shows a resend as the same mail."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    return f"<{name}@{domain}>"


def _drop(smtp: smtplib.SMTP) -> None:
    # close() shuts the socket without a QUIT: the server discards the unterminated DATA at once.
    with contextlib.suppress(Exception):
        smtp.close()


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
    try:
        body = _quote_periods(data)
        if not body.endswith(CRLF):
            body += CRLF
        smtp.send(body)
        if not commit():
            # Abort the transaction: closing without the terminator discards the message.
            raise CommitRefused
        smtp.send(b"." + CRLF)
        code, reply = smtp.getreply()
    except BaseException:
        _drop(smtp)
        raise
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


class Mailer:
    """One connection reused for a batch of messages; a fresh one after any error (including a failed connect).

    Other email backends (console for ``make run``, locmem, HTTP APIs) send and then commit.
    """

    def __init__(self) -> None:
        self.backend = None
        # The error of a connect that failed in this batch: the rest of the batch is not sent through a
        # server that cannot be reached (each would wait EMAIL_TIMEOUT again); the next batch tries afresh.
        self.unreachable: Exception | None = None

    def _open(self):
        backend = get_connection(fail_silently=False)
        backend.open()  # raises on a refused or timed-out connect; self.backend stays None then
        sock = getattr(getattr(backend, "connection", None), "sock", None)
        if sock is not None:
            # The terminator is a separate small write right after the body: without this, Nagle's
            # algorithm holds it until the server's delayed ACK (~40 ms per message).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return backend

    def send(self, message: EmailMessage, commit: Callable[[], bool] = lambda: True) -> None:
        if self.backend is None:
            try:
                self.backend = self._open()
            except Exception as exc:
                self.unreachable = exc
                raise
        try:
            if isinstance(self.backend, SMTPBackend):
                send_with_commit_point(self.backend.connection, message, commit)
            else:
                # No commit point to use: hand over only once the backend has the message without an error.
                self.backend.send_messages([message])
                if not commit():
                    raise CommitRefused
        except Exception:
            # After an error the connection may be mid-DATA or waiting on a dead peer: a QUIT could wait
            # EMAIL_TIMEOUT for nothing, so drop it; the next message opens a fresh one.
            self.close(quit=False)
            raise

    def close(self, *, quit: bool = True) -> None:
        if self.backend is None:
            return
        connection = getattr(self.backend, "connection", None)
        if connection is not None and (not quit or getattr(connection, "sock", None) is None):
            _drop(connection)
            self.backend.connection = None
        with contextlib.suppress(Exception):  # a broken connection is being dropped anyway
            self.backend.close()
        self.backend = None


def server_answers() -> bool:
    """Whether the mail server takes a connection now (connect, EHLO and QUIT; no message).

    The tick asks before ending the backoff of rows that failed only because the server was unreachable.
    A backend without a server to ask (console, locmem) always answers.
    """
    backend = get_connection(fail_silently=False)
    if not isinstance(backend, SMTPBackend):
        return True
    try:
        backend.open()
        backend.connection.ehlo_or_helo_if_needed()
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            backend.close()
    return True
