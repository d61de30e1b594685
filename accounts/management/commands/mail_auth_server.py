"""Run the mail login verifier that Dovecot's Lua passdb asks (long-running; Procfile and systemd).

    python manage.py mail_auth_server              # listen on MAIL_AUTH_SOCKET until SIGTERM
    python manage.py mail_auth_server --ping       # ask a running verifier; exit 0 when it serves data

docs/mail-clients.md explains the protocol, the failure modes and the systemd unit.
"""

from __future__ import annotations

import asyncio
import socket
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def ping(path: str, timeout: float = 3.0) -> str:
    """The verifier's PONG line, or CommandError."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"PING\t1\n")
            answer = sock.makefile("rb").readline().decode("utf-8", "replace").rstrip("\n")
    except OSError as exc:
        raise CommandError(f"no verifier answers on {path}: {exc}") from None
    return answer


class Command(BaseCommand):
    help = "Run the app-password verifier for Dovecot (IMAP, POP3) and Postfix submission (docs/mail-clients.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--socket", default=settings.MAIL_AUTH_SOCKET, help="Unix socket to listen on")
        parser.add_argument(
            "--dovecot-socket",
            default=settings.MAIL_AUTH_DOVECOT_SOCKET,
            help="Dovecot's master auth listener for cache flushes (empty: rely on the cache TTL)",
        )
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between checks for changes")
        parser.add_argument("--write-interval", type=float, default=10.0, help="seconds between batched writes")
        parser.add_argument("--ping", action="store_true", help="ask a running verifier and exit")

    def handle(self, *args: object, **options: object) -> None:
        if options["ping"]:
            answer = ping(str(options["socket"]))
            fields = answer.split("\t")
            if fields[0] != "PONG" or len(fields) < 6:
                raise CommandError(f"unexpected answer: {answer!r}")
            version, users, passwords, age = fields[2:6]
            if age == "-1":
                self.stdout.write(f"verifier up on {options['socket']} but without data yet (database?)")
                sys.exit(2)
            self.stdout.write(f"verifier serves version {version}: {users} users, {passwords} app passwords, "
                              f"loaded {age} s ago")  # fmt: skip
            return
        from accounts.mailauth.server import Verifier

        verifier = Verifier(
            socket_path=str(options["socket"]),
            master_socket=str(options["dovecot_socket"] or ""),
            socket_group=settings.MAIL_AUTH_SOCKET_GROUP,
            poll_seconds=float(options["poll"]),
            write_seconds=float(options["write_interval"]),
        )
        asyncio.run(verifier.run(ready=lambda: self.stdout.write(f"listening on {options['socket']}")))
