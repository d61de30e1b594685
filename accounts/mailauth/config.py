"""The Dovecot and Postfix configuration for mail logins through the portal (``manage.py mail_auth_config``).

``render(options)`` returns {relative path: text}: the Dovecot auth include that replaces
``auth-system.conf.ext``, the four Lua files, and the Postfix ``main.cf`` / ``master.cf`` lines.
docs/mail-clients.md explains every line and how to switch a Debian server over and back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

# Nothing from the options may end a line, open a block or break out of a Lua string.
_PATH = re.compile(r"^/[A-Za-z0-9._/-]+$")
_WORD = re.compile(r"^[A-Za-z0-9._-]+$")
_ARGS = re.compile(r"^[^\n\r{}\"\\]*$")
_LISTEN = re.compile(r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]|[0-9.]+)(:[0-9]{1,5})?$")
LUA_FILES = ("portal-mail-auth.lua", "portal-passdb.lua", "portal-mailbox-ok.lua", "portal-mailbox-failed.lua")
MAX_CACHE_TTL = 55  # a revoked password must fail within 60 s even when the flush cannot reach Dovecot


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Options:
    socket: str
    lua_dir: str = "/etc/dovecot/portal"
    site_passdb_driver: str = "pam"
    site_passdb_args: str = ""
    site_userdb_driver: str = "passwd"
    site_userdb_args: str = ""
    cache_ttl: int = 30
    timeout: float = 3.0
    postfix_sasl_listener: str = "/var/spool/postfix/private/auth"
    postfix_user: str = "postfix"
    master_listener: str = "portal-master"
    portal_user: str = "portal"
    submission: str = "submission"
    submissions: str = "submissions"
    postfix_chroot: bool = True

    def check(self) -> None:
        for name in ("socket", "lua_dir", "postfix_sasl_listener"):
            if not _PATH.match(getattr(self, name)):
                raise ConfigError(f"{name.replace('_', '-')}: expected an absolute path such as /run/portal/x.sock")
        for name in ("site_passdb_driver", "site_userdb_driver", "postfix_user", "portal_user", "master_listener"):
            if not _WORD.match(getattr(self, name)):
                raise ConfigError(f"{name.replace('_', '-')}: expected a single word")
        if not self.master_listener.endswith("-master"):
            raise ConfigError("master-listener: Dovecot makes a master socket only of a name ending in -master")
        for name in ("site_passdb_args", "site_userdb_args"):
            if not _ARGS.match(getattr(self, name)):
                raise ConfigError(f"{name.replace('_', '-')}: one line without braces, quotes or backslashes")
        for name in ("submission", "submissions"):
            value = getattr(self, name)
            if value and not _LISTEN.match(value):
                raise ConfigError(f"{name}: a master.cf service name such as {name} or 127.0.0.1:587")
        if not 1 <= self.cache_ttl <= MAX_CACHE_TTL:
            raise ConfigError(f"cache-ttl: 1 to {MAX_CACHE_TTL} seconds (a revoked password must fail within 60 s)")
        if not 0.2 <= self.timeout <= 30:
            raise ConfigError("timeout: 0.2 to 30 seconds")


def _lua(name: str, options: Options) -> str:
    text = resources.files("accounts.mailauth").joinpath("lua", name).read_text(encoding="utf-8")
    report_timeout = min(options.timeout, 1.0)
    return (
        text.replace("@SOCKET@", options.socket)
        .replace("@LUA_DIR@", options.lua_dir)
        .replace("@REPORT_TIMEOUT@", f"{report_timeout:g}")
        .replace("@TIMEOUT@", f"{options.timeout:g}")
    )


def _db_block(kind: str, driver: str, args: str, rules: list[str]) -> list[str]:
    lines = [f"{kind} {{", f"  driver = {driver}"]
    if args:
        lines.append(f"  args = {args}")
    return lines + [f"  {rule}" for rule in rules] + ["}"]


def dovecot_conf(options: Options) -> str:
    lua = options.lua_dir
    lines = [
        "# Mail logins through the security portal (manage.py mail_auth_config; docs/mail-clients.md).",
        "# In conf.d/10-auth.conf, include this file instead of auth-system.conf.ext:",
        "#   #!include auth-system.conf.ext",
        "#   !include auth-portal.conf.ext",
        "# Switching back: include auth-system.conf.ext again and run `systemctl reload dovecot`.",
        "",
        "# Dovecot's auth cache: the portal flushes a person's cached logins when their passwords change;",
        f"# the short TTL bounds a revoked password to {options.cache_ttl} s even when the flush cannot reach Dovecot.",
        "# Wrong passwords are never cached (negative TTL 0): every refusal reaches the portal.",
        "# While the verifier is down, logins Dovecot has cached keep working; new ones get a temporary failure.",
        "auth_cache_size = 10M",
        f"auth_cache_ttl = {options.cache_ttl} s",
        "auth_cache_negative_ttl = 0",
        "# PLAIN and LOGIN (Outlook's SMTP client knows only LOGIN); both only over TLS.",
        "auth_mechanisms = plain login",
        "",
        "# 1. App passwords: the portal's verifier decides (Lua passdb, Debian's dovecot-auth-lua and",
        "#    lua-socket). OK -> logged in; refused, unknown or verifier down -> stop here; NEXT (not an app",
        "#    password while mailbox passwords are still accepted) -> on to the site's passdb.",
        *_db_block(
            "passdb",
            "lua",
            f"file={lua}/portal-passdb.lua blocking=yes cache_key=%u%s%{{sha256:password}}",
            ["result_success = return-ok", "result_failure = return-fail", "result_internalfail = return-fail"],
        ),
        "",
        "# 2. The mailbox password, while the portal still accepts it: the site's own passdb, as before.",
        *_db_block(
            "passdb",
            options.site_passdb_driver,
            options.site_passdb_args,
            ["result_success = continue-ok", "result_failure = continue-fail", "result_internalfail = return-fail"],
        ),
        "",
        "# 3. Tell the portal how the mailbox password fared (who still uses it; guessing alerts).",
        "#    They never change the outcome (result_* = return). A success is cached like any login (one",
        "#    report per person and service per cache TTL); a failure never is, so every one is counted.",
        *_db_block(
            "passdb",
            "lua",
            # Not "cache_key=" (no cache): Dovecot 2.3.19's auth process crashes on an empty cache_key.
            f"file={lua}/portal-mailbox-ok.lua blocking=yes cache_key=%u%s",
            [
                "skip = unauthenticated",
                "result_success = return",
                "result_failure = return",
                "result_internalfail = return",
            ],
        ),
        *_db_block(
            "passdb",
            "lua",
            f"file={lua}/portal-mailbox-failed.lua blocking=yes",
            [
                "skip = authenticated",
                "result_success = return",
                "result_failure = return",
                "result_internalfail = return",
            ],
        ),
        "",
        "# The site's userdb, unchanged (where mail is stored, uid/gid).",
        *_db_block("userdb", options.site_userdb_driver, options.site_userdb_args, []),
        "",
        "service auth {",
        "  # Postfix submission asks Dovecot (smtpd_sasl_type = dovecot): same passwords, same scopes.",
        f"  unix_listener {options.postfix_sasl_listener} {{",
        "    mode = 0660",
        f"    user = {options.postfix_user}",
        f"    group = {options.postfix_user}",
        "  }",
        "  # The portal's verifier flushes cached logins of people whose passwords changed (CACHE-FLUSH).",
        f"  unix_listener {options.master_listener} {{",
        "    mode = 0600",
        f"    user = {options.portal_user}",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def postfix_main_cf(options: Options) -> str:
    sasl_path = options.postfix_sasl_listener
    if options.postfix_chroot and "/private/" in sasl_path:
        sasl_path = "private/" + sasl_path.rsplit("/private/", 1)[1]  # relative to the queue directory
    return "\n".join(
        [
            "# Mail logins through the security portal (manage.py mail_auth_config; docs/mail-clients.md).",
            "# Add to /etc/postfix/main.cf. SMTP AUTH is offered only on the submission ports (master.cf),",
            "# never on port 25, so a stolen password cannot relay through port 25.",
            "smtpd_sasl_type = dovecot",
            f"smtpd_sasl_path = {sasl_path}",
            "smtpd_sasl_auth_enable = no",
            "smtpd_sasl_security_options = noanonymous, noplaintext",
            "smtpd_sasl_tls_security_options = noanonymous",
            "smtpd_sasl_authenticated_header = no",
            "broken_sasl_auth_clients = no",
            "",
        ]
    )


def postfix_master_cf(options: Options) -> str:
    chroot = "y" if options.postfix_chroot else "n"
    common = [
        "  -o smtpd_sasl_auth_enable=yes",
        "  -o smtpd_client_restrictions=permit_sasl_authenticated,reject",
        "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject",
        "  -o milter_macro_daemon_name=ORIGINATING",
    ]
    lines = [
        "# Mail logins through the security portal (manage.py mail_auth_config; docs/mail-clients.md).",
        "# Replace the commented submission/submissions entries of /etc/postfix/master.cf with these.",
    ]
    if options.submission:
        lines += [
            f"{options.submission} inet n       -       {chroot}       -       -       smtpd",
            "  -o syslog_name=postfix/submission",
            "  -o smtpd_tls_security_level=encrypt",
            "  -o smtpd_tls_auth_only=yes",
            *common,
        ]
    if options.submissions:
        lines += [
            f"{options.submissions} inet n       -       {chroot}       -       -       smtpd",
            "  -o syslog_name=postfix/submissions",
            "  -o smtpd_tls_wrappermode=yes",
            *common,
        ]
    return "\n".join(lines) + "\n"


def render(options: Options) -> dict[str, str]:
    options.check()
    files = {
        "dovecot/conf.d/auth-portal.conf.ext": dovecot_conf(options),
        "postfix/main.cf.portal": postfix_main_cf(options),
        "postfix/master.cf.portal": postfix_master_cf(options),
    }
    for name in LUA_FILES:
        files[f"dovecot/portal/{name}"] = _lua(name, options)
    return files
