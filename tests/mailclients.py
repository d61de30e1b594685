"""Mail clients for the tests: IMAP, POP3 and SMTP submission logins over TLS from a chosen address.

Each login connects from a fresh 127.x.y.z address unless told otherwise (``source=``), so Dovecot's
per-address delay after failed logins never slows the next login, and an audit entry can be matched
to the address of one attempt. The helpers answer "ok", "failed" or "tempfail".
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import poplib
import random
import smtplib
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage


def run_coroutine(coroutine, timeout: float = 60):
    """``asyncio.run`` in a thread of its own: Playwright's sync API may own this thread's event loop."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result(timeout=timeout)


def random_source() -> str:
    """A fresh loopback address to connect from (Dovecot delays further logins from an address that failed)."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def _client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _FromSource:
    """imaplib and poplib cannot choose the local address: connect from ``self.source`` over TLS."""

    source: str
    host: str
    port: int

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))
        return _client_context().wrap_socket(sock, server_hostname=None)


class _IMAP(_FromSource, imaplib.IMAP4_SSL):
    def __init__(self, port: int, source: str) -> None:
        self.source = source
        super().__init__("127.0.0.1", port, ssl_context=_client_context(), timeout=20)


class _POP3(_FromSource, poplib.POP3_SSL):
    def __init__(self, port: int, source: str) -> None:
        self.source = source
        super().__init__("127.0.0.1", port, context=_client_context(), timeout=20)


def imap_login(port: int, user: str, password: str, source: str | None = None) -> str:
    client = _IMAP(port, source or random_source())
    try:
        client.login(user, password)
        client.select("INBOX")
        client.logout()
        return "ok"
    except imaplib.IMAP4.error as exc:
        return "tempfail" if "[UNAVAILABLE]" in str(exc) else "failed"
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


def pop3_login(port: int, user: str, password: str, source: str | None = None) -> str:
    client = _POP3(port, source or random_source())
    try:
        client.user(user)
        client.pass_(password)
        client.stat()
        client.quit()
        return "ok"
    except poplib.error_proto as exc:
        return "tempfail" if "[SYS/TEMP]" in str(exc) else "failed"
    finally:
        client.close()


def smtp_login(
    port: int, user: str, password: str, *, implicit_tls: bool = False, source: str | None = None,
    send_to: str | None = None,
) -> str:  # fmt: skip
    """AUTH on a submission port ("ok", "failed", "tempfail"); with ``send_to``, also send one message."""
    address = (source or random_source(), 0)
    if implicit_tls:
        client = smtplib.SMTP_SSL("127.0.0.1", port, context=_client_context(), timeout=20, source_address=address)
    else:
        client = smtplib.SMTP("127.0.0.1", port, timeout=20, source_address=address)
    try:
        client.ehlo("client.test")
        if not implicit_tls:
            client.starttls(context=_client_context())
            client.ehlo("client.test")
        # One attempt with PLAIN, as mail programs make it: smtplib.login() would go on to LOGIN after a
        # failure, and Dovecot delays a second failure from the same address by seconds.
        client.user, client.password = user, password
        client.auth("PLAIN", client.auth_plain)
        if send_to:
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = user, send_to, "Test"
            message.set_content("Sent through the portal's test mail stack.\n")
            client.send_message(message)
        return "ok"
    except smtplib.SMTPAuthenticationError as exc:
        return "tempfail" if exc.smtp_code == 454 else "failed"
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()


def smtp_send(
    port: int, user: str, password: str, *, sender: str, recipients: list[str], source: str | None = None,
) -> tuple[str, str]:  # fmt: skip
    """Log in on a submission port (STARTTLS) and send one message from ``sender`` to ``recipients``.

    Returns (outcome, server's words): "ok"; "deferred" (a 4xx for a recipient or the message);
    "refused" (a 5xx); "auth failed" / "auth tempfail" (the login itself)."""
    client = smtplib.SMTP("127.0.0.1", port, timeout=20, source_address=(source or random_source(), 0))
    try:
        client.ehlo("client.test")
        client.starttls(context=_client_context())
        client.ehlo("client.test")
        client.user, client.password = user, password
        try:
            client.auth("PLAIN", client.auth_plain)
        except smtplib.SMTPAuthenticationError as exc:
            return ("auth tempfail" if exc.smtp_code == 454 else "auth failed"), exc.smtp_error.decode()
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, ", ".join(recipients), "Test"
        message.set_content("Sent through the portal's test mail stack.\n")
        try:
            refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            code, words = next(iter(exc.recipients.values()))
            return ("deferred" if 400 <= code < 500 else "refused"), f"{code} {words.decode()}"
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            outcome = "deferred" if 400 <= exc.smtp_code < 500 else "refused"
            return outcome, f"{exc.smtp_code} {exc.smtp_error.decode()}"
        if refused:
            code, words = next(iter(refused.values()))
            return ("deferred" if 400 <= code < 500 else "refused"), f"{code} {words.decode()}"
        return "ok", ""
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
