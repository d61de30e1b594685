"""Print (or write) the Postfix lines that put the sending guard in the mail path.

    python manage.py mail_policy_config                      # print them, for reading
    python manage.py mail_policy_config --fail closed        # mail waits while the service is down
    python manage.py mail_policy_config --write /tmp/portal  # write them under /tmp/portal/postfix

docs/sending.md walks through adding them to a Debian Postfix, and the fail-open / fail-closed choice.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.sending.policy.config import FAIL_CLOSED, FAIL_OPEN, ConfigError, Options, render
from portal.configfiles import emit


class Command(BaseCommand):
    help = "Print the Postfix main.cf and master.cf lines for the sending guard's policy service (docs/sending.md)."
    requires_system_checks: list = []  # it only prints text

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = Options()
        add = parser.add_argument
        add("--listen", default=settings.MAIL_POLICY_LISTEN, help="the service's host:port or socket path")
        add("--timeout", type=int, default=defaults.timeout, help="seconds Postfix waits for an answer (default 5)")
        add("--fail", choices=[FAIL_OPEN, FAIL_CLOSED], default=FAIL_OPEN,
            help="open: mail flows while the service is down (default); closed: mail waits")  # fmt: skip
        add("--submission", default=defaults.submission, help="master.cf service for port 587 ('' for none)")
        add("--submissions", default=defaults.submissions, help="master.cf service for port 465 ('' for none)")
        add("--no-relay", action="store_true", help="leave smtpd_relay_restrictions alone (no relay counting)")
        add("--write", metavar="DIR", help="write the files under DIR instead of printing them")

    def handle(self, *args: object, **o: object) -> None:
        options = Options(
            listen=str(o["listen"]),
            timeout=int(o["timeout"]),
            fail=str(o["fail"]),
            submission=str(o["submission"]),
            submissions=str(o["submissions"]),
            relay=not o["no_relay"],
        )
        try:
            files = render(options)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        emit(files, str(o["write"] or ""), self.stdout)
