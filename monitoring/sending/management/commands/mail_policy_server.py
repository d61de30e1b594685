"""Run the Postfix policy service of the sending guard (long-running; Procfile and systemd).

    python manage.py mail_policy_server             # listen on MAIL_POLICY_LISTEN until SIGTERM
    python manage.py mail_policy_server --ping      # ask a running service; exit 0 when it serves data

docs/sending.md explains the protocol, the limits, the failure modes and the systemd unit.
"""

from __future__ import annotations

import asyncio
import socket
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def status(listen: str, timeout: float = 3.0) -> str:
    """The service's answer to a status request (``OK <version> <senders> <age> <counters>``), or CommandError."""
    from monitoring.sending.policy.server import parse_listen

    kind, where, port = parse_listen(listen)
    try:
        family = socket.AF_UNIX if kind == "unix" else socket.AF_INET6 if ":" in where else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(where if kind == "unix" else (where, port))
            sock.sendall(b"request=portal_status\n\n")
            line = sock.makefile("rb").readline().decode("utf-8", "replace").strip()
    except OSError as exc:
        raise CommandError(f"no policy service answers on {listen}: {exc}") from None
    return line.removeprefix("action=")


class Command(BaseCommand):
    help = "Run the sending guard's Postfix policy service (docs/sending.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--listen", default=settings.MAIL_POLICY_LISTEN, help="host:port or a Unix socket path")
        parser.add_argument("--counters", default=settings.MAIL_POLICY_COUNTERS, help="memory or a redis:// URL")
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between checks for changes")
        parser.add_argument("--write-interval", type=float, default=10.0, help="seconds between batched writes")
        parser.add_argument("--ping", action="store_true", help="ask a running service and exit")

    def handle(self, *args: object, **options: object) -> None:
        listen = str(options["listen"])
        if options["ping"]:
            answer = status(listen)
            if answer == "NOT-READY":
                self.stdout.write(f"policy service up on {listen} but without data yet (database?)")
                sys.exit(2)
            fields = answer.split()
            if fields[:1] != ["OK"] or len(fields) < 5:
                raise CommandError(f"unexpected answer: {answer!r}")
            self.stdout.write(f"policy service serves version {fields[1]}: {fields[2]} senders, loaded {fields[3]} s "
                              f"ago, counters in {fields[4]}")  # fmt: skip
            return
        from monitoring.sending.policy import counters
        from monitoring.sending.policy.server import PolicyServer, parse_listen

        try:
            parse_listen(listen)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        server = PolicyServer(
            listen=listen,
            counters=counters.make(str(options["counters"])),
            socket_group=settings.MAIL_POLICY_SOCKET_GROUP,
            poll_seconds=float(options["poll"]),
            write_seconds=float(options["write_interval"]),
        )

        def ready() -> None:
            self.stdout.write(f"listening on {server.address} (counters: {server.counters.name})")
            self.stdout.flush()

        try:
            import uvloop  # libuv's event loop: about twice the requests per second of asyncio's own
        except ImportError:
            asyncio.run(server.run(ready=ready))
        else:
            uvloop.run(server.run(ready=ready))
