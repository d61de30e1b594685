"""Print (or write) the Dovecot and Postfix configuration for mail logins through the portal.

    python manage.py mail_auth_config                       # print every file, for reading
    python manage.py mail_auth_config --write /tmp/portal   # write them under /tmp/portal/{dovecot,postfix}

docs/mail-clients.md walks through switching a Debian Postfix + Dovecot server over, and back.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.mailauth.config import ConfigError, Options, render
from portal.configfiles import emit


class Command(BaseCommand):
    help = "Print the Dovecot passdb chain, the Lua passdb and Postfix submission lines (docs/mail-clients.md)."
    requires_system_checks: list = []  # it only prints text

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = Options(socket=settings.MAIL_AUTH_SOCKET)
        add = parser.add_argument
        add("--socket", default=settings.MAIL_AUTH_SOCKET, help="the verifier's socket (MAIL_AUTH_SOCKET)")
        add("--lua-dir", default=defaults.lua_dir, help="where the Lua files go (default %(default)s)")
        add("--site-passdb-driver", default=defaults.site_passdb_driver, help="the site's passdb (default pam)")
        add("--site-passdb-args", default="", help="its args line, e.g. 'scheme=CRYPT /etc/dovecot/users'")
        add("--site-userdb-driver", default=defaults.site_userdb_driver, help="the site's userdb (default passwd)")
        add("--site-userdb-args", default="", help="its args line")
        add("--cache-ttl", type=int, default=defaults.cache_ttl, help="Dovecot auth cache TTL in seconds (<= 55)")
        add("--timeout", type=float, default=defaults.timeout, help="seconds the Lua passdb waits for the verifier")
        add("--postfix-sasl-listener", default=defaults.postfix_sasl_listener, help="Dovecot's socket for Postfix")
        add("--postfix-user", default=defaults.postfix_user)
        add("--portal-user", default=defaults.portal_user, help="system user the verifier runs as")
        add("--master-listener", default=defaults.master_listener, help="Dovecot listener for cache flushes")
        add("--submission", default=defaults.submission, help="master.cf service for port 587 ('' for none)")
        add("--submissions", default=defaults.submissions, help="master.cf service for port 465 ('' for none)")
        add("--no-postfix-chroot", action="store_true", help="smtpd not chrooted (master.cf chroot column n)")
        add("--write", metavar="DIR", help="write the files under DIR instead of printing them")

    def handle(self, *args: object, **o: object) -> None:
        options = Options(
            socket=str(o["socket"]),
            lua_dir=str(o["lua_dir"]).rstrip("/"),
            site_passdb_driver=str(o["site_passdb_driver"]),
            site_passdb_args=str(o["site_passdb_args"]),
            site_userdb_driver=str(o["site_userdb_driver"]),
            site_userdb_args=str(o["site_userdb_args"]),
            cache_ttl=int(o["cache_ttl"]),
            timeout=float(o["timeout"]),
            postfix_sasl_listener=str(o["postfix_sasl_listener"]),
            postfix_user=str(o["postfix_user"]),
            portal_user=str(o["portal_user"]),
            master_listener=str(o["master_listener"]),
            submission=str(o["submission"]),
            submissions=str(o["submissions"]),
            postfix_chroot=not o["no_postfix_chroot"],
        )
        try:
            files = render(options)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        emit(files, str(o["write"] or ""), self.stdout)
