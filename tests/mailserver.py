"""Debian's Dovecot and Postfix for the tests, configured from ``manage.py mail_auth_config``, plus the
real mail login verifier (``manage.py mail_auth_server``) on the test database.

Everything runs as root from a temporary folder on free 127.0.0.1 ports, in the foreground, without
systemd. The fixtures, for any test that needs the mail path (app passwords, the sending guard):

- ``mail_stack``: the verifier, Dovecot (IMAPS, POP3S) and Postfix (submission 587-style STARTTLS and
  465-style TLS) started once per test module; each test gets it with a flushed Dovecot auth cache and
  the verifier serving the test's data. It needs ``transactional_db`` (the verifier is another
  process and sees only committed rows) and requests it itself.
- ``dovecot_server`` / ``postfix_server``: the same stack, named for what a test uses.
- ``make_mail_stack(**options)``: a stack of one's own (another cache TTL, no cache flush socket...).

The stack's ``imap``, ``pop3`` and ``smtp`` log in with the clients of ``tests/mailclients.py`` (a fresh
127.x.y.z address each time) and answer "ok", "failed" or "tempfail".

A service that is missing (not root, Dovecot/Postfix/lua-socket not installed) skips the test, or
fails it under REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.mailclients import imap_login, pop3_login, smtp_login
from tests.services import ROOT, ManagedProcess, database_url, free_port, port_open, service_missing

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
LUA_AUTH_MODULE = "/usr/lib/dovecot/modules/auth/libauthdb_lua.so"
MAIL_UID = 65534  # nobody: Dovecot refuses mail for system uids below first_valid_uid (500)


def dovecot_missing_reason() -> str | None:
    if os.geteuid() != 0:
        return "Dovecot and Postfix are started as root by the tests (run the suite as root, as CI does)"
    if not os.access(DOVECOT, os.X_OK):
        return "Dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d dovecot-auth-lua lua-socket)"
    if not os.path.exists(LUA_AUTH_MODULE):
        return "Dovecot's Lua passdb is not installed (apt-get install dovecot-auth-lua)"
    if not glob.glob("/usr/lib/*/lua/5.4/socket/unix.so"):
        return "Lua's socket library is not installed (apt-get install lua-socket)"
    return None


def postfix_missing_reason() -> str | None:
    if not os.access(POSTFIX, os.X_OK):
        return "Postfix is not installed (apt-get install postfix)"
    return dovecot_missing_reason()


def _mkdir(path: Path, mode: int = 0o755, owner: str | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    if owner:
        account = pwd.getpwnam(owner)
        os.chown(path, account.pw_uid, account.pw_gid)
    return path


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for mail.test (TLS as in production; clients do not verify it)."""
    cert, key = folder / "mail.crt", folder / "mail.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mail.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


def ssha512(password: str) -> str:
    """A Dovecot {SSHA512} hash, as a site's passwd-file would hold it."""
    salt = secrets.token_bytes(8)
    return "{SSHA512}" + base64.b64encode(hashlib.sha512(password.encode() + salt).digest() + salt).decode()


# --- the verifier ----------------------------------------------------------------------------------


class VerifierProcess(ManagedProcess):
    """``manage.py mail_auth_server`` as its own process on the test database."""

    name = "mail_auth_server"

    def __init__(self, env: dict[str, str], socket_path: Path, dovecot_socket: Path | None, log_path: Path) -> None:
        super().__init__(env, log_path)
        self.socket_path = socket_path
        self.dovecot_socket = dovecot_socket

    def command(self) -> list[str]:
        return [
            "mail_auth_server", "--socket", str(self.socket_path), "--dovecot-socket", str(self.dovecot_socket or ""),
            "--poll", "0.2", "--write-interval", "0.3",
        ]  # fmt: skip

    def serving(self) -> int | None:
        """The version the verifier serves, or None (not answering, or no data loaded yet)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(str(self.socket_path))
                sock.sendall(b"PING\t1\n")
                fields = sock.makefile("rb").readline().decode().rstrip("\n").split("\t")
        except OSError:
            return None
        if fields[0] != "PONG" or fields[5] == "-1":
            return None
        return int(fields[2])

    def wait_for(self, version: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.serving() == version:
                return
            time.sleep(0.05)
        raise AssertionError(f"the verifier did not load version {version} in {timeout} s:\n{self.log()}")


# --- Dovecot and Postfix ------------------------------------------------------------------------------

DOVECOT_CONF = """\
# Test instance: the site's part (ports, TLS, storage); the auth part is mail_auth_config's output.
base_dir = {root}/run
state_dir = {root}/state
instance_name = portal-test-{name}
listen = 127.0.0.1
protocols = imap pop3
{tls}
log_path = {root}/dovecot.log
auth_verbose = yes
mail_location = maildir:{root}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
# Tests only: answer a failed login at once (production keeps Dovecot's 2 s).
auth_failure_delay = 0
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
  }}
}}
!include {auth_conf}
{extra}"""

# A Dovecot whose only passdb is a passwd-file with the same people: the local limit the benchmark
# compares the portal's passdb with.
BASELINE_AUTH = """\
passdb {{
  driver = passwd-file
  args = scheme=SSHA512 {passwd_file}
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={root}/mail/%u
}}
"""

POSTFIX_MAIN = """\
# Test instance: the site's part; the SASL part is appended from mail_auth_config's output.
compatibility_level = 3.6
queue_directory = {root}/postfix-queue
data_directory = {root}/postfix-data
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.test
mydomain = test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
alias_maps =
alias_database =
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
# Accepted mail goes nowhere unless a test relays it to its own SMTP server.
default_transport = {transport}
relay_transport = {transport}
relayhost = {relayhost}
"""

POSTFIX_MASTER = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class MailStack:
    """The verifier, Dovecot and Postfix of one test module, configured by ``mail_auth_config``."""

    def __init__(self, env: dict[str, str], *, cache_ttl: int = 30, flush_cache: bool = True,
                 postfix: bool = True, relay_to: int | None = None, tls: bool = True, auth_cache: bool = True,
                 baseline: bool = False) -> None:  # fmt: skip
        """``tls=False``: plain IMAP/POP3 (the benchmark); ``auth_cache=False``: Dovecot's cache off;
        ``baseline=True``: a passwd-file passdb only, no portal and no verifier (the benchmark's local limit)."""
        self.root = Path(tempfile.mkdtemp(prefix="mailstack-", dir="/tmp"))
        self.root.chmod(0o755)
        self.name = self.root.name.rsplit("-", 1)[-1]
        self.env = env
        self.cache_ttl = cache_ttl
        self.flush_cache = flush_cache
        self.with_postfix = postfix
        self.relay_to = relay_to
        self.tls = tls
        self.auth_cache = auth_cache
        self.baseline = baseline
        self.imap_port, self.pop3_port = free_port(), free_port()
        self.submission_port, self.submissions_port = free_port(), free_port()
        self.verifier_socket = self.root / "verifier" / "mail-auth.sock"
        self.master_socket = self.root / "run" / "portal-master"
        self.sasl_socket = self.root / "sasl" / "auth"
        self.passwd_file = self.root / "users.passwd"
        self.mailbox_passwords: dict[str, str] = {}
        self.verifier: VerifierProcess | None = None
        self.dovecot: subprocess.Popen | None = None
        self.postfix: subprocess.Popen | None = None

    # --- configuration -------------------------------------------------------------------

    def config_command(self) -> list[str]:
        """The ``mail_auth_config`` call that writes this stack's Dovecot and Postfix configuration."""
        return [
            "mail_auth_config", "--write", str(self.root / "portal"), "--socket", str(self.verifier_socket),
            "--lua-dir", str(self.root / "portal" / "dovecot" / "portal"),
            "--site-passdb-driver", "passwd-file", "--site-passdb-args", f"scheme=SSHA512 {self.passwd_file}",
            "--site-userdb-driver", "static",
            "--site-userdb-args", f"uid={MAIL_UID} gid={MAIL_UID} home={self.root}/mail/%u",
            "--cache-ttl", str(self.cache_ttl), "--postfix-sasl-listener", str(self.sasl_socket),
            "--portal-user", "root", "--submission", f"127.0.0.1:{self.submission_port}",
            "--submissions", f"127.0.0.1:{self.submissions_port}", "--no-postfix-chroot",
        ]  # fmt: skip

    def write_config(self) -> None:
        from django.core.management import call_command

        for folder in ("run", "state", "sasl", "verifier", "postfix-conf", "postfix-queue"):
            _mkdir(self.root / folder)
        _mkdir(self.root / "mail", owner="nobody")
        _mkdir(self.root / "postfix-data", 0o700, owner="postfix")
        self.cert, self.key = make_certificate(self.root)
        self.set_mailbox_passwords({})
        call_command(*self.config_command(), stdout=open(os.devnull, "w"))  # noqa: SIM115
        auth_conf = self.root / "portal/dovecot/conf.d/auth-portal.conf.ext"
        if self.baseline:
            auth_conf = self.root / "baseline-auth.conf"
            auth_conf.write_text(BASELINE_AUTH.format(passwd_file=self.passwd_file, uid=MAIL_UID, root=self.root))
        if self.tls:
            tls = f"ssl = required\nssl_cert = <{self.cert}\nssl_key = <{self.key}"
            ports = {"imap": 0, "imaps": self.imap_port, "pop3": 0, "pop3s": self.pop3_port}
        else:
            tls = "ssl = no\ndisable_plaintext_auth = no"
            ports = {"imap": self.imap_port, "imaps": 0, "pop3": self.pop3_port, "pop3s": 0}
        extra = "" if self.auth_cache else "auth_cache_size = 0\n"
        (self.root / "dovecot.conf").write_text(
            DOVECOT_CONF.format(root=self.root, name=self.name, tls=tls, auth_conf=auth_conf, extra=extra, **ports)
        )
        relay = f"[127.0.0.1]:{self.relay_to}" if self.relay_to else ""
        main = POSTFIX_MAIN.format(
            root=self.root, cert=self.cert, key=self.key, transport="smtp" if relay else "discard", relayhost=relay
        )
        portal = self.root / "portal" / "postfix"
        (self.root / "postfix-conf" / "main.cf").write_text(main + (portal / "main.cf.portal").read_text())
        master = POSTFIX_MASTER + (portal / "master.cf.portal").read_text()
        (self.root / "postfix-conf" / "master.cf").write_text(master)

    def set_mailbox_passwords(self, passwords: dict[str, str]) -> None:
        """The site's own passdb (a passwd-file standing in for PAM): login name -> mailbox password."""
        self.mailbox_passwords = dict(passwords)
        lines = [f"{login}:{ssha512(password)}::::::" for login, password in passwords.items()]
        self.passwd_file.write_text("".join(line + "\n" for line in lines))
        # Dovecot re-reads a passwd-file when its mtime or size changed, but looks at most once per
        # second: give every version its own mtime, and let the second of the last look pass.
        self._passwd_versions = getattr(self, "_passwd_versions", 0) + 1
        stamp = 1_000_000_000 + self._passwd_versions
        os.utime(self.passwd_file, (stamp, stamp))
        if self.dovecot is not None:
            time.sleep(1.01 - time.time() % 1)

    def set_mailbox_password(self, login: str, password: str) -> None:
        self.set_mailbox_passwords({**self.mailbox_passwords, login: password})

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> MailStack:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> MailStack:
        self.write_config()
        self.dovecot = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=(self.root / "dovecot.out").open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self._wait_port(self.imap_port, "Dovecot", lambda: self.log("dovecot.log", "dovecot.out"))
        if self.with_postfix:
            self.postfix = subprocess.Popen(
                [POSTFIX, "-c", str(self.root / "postfix-conf"), "start-fg"],
                stdout=(self.root / "postfix.out").open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            self._wait_port(self.submission_port, "Postfix", lambda: self.log("postfix.log", "postfix.out"))
        if not self.baseline:
            self.start_verifier()
        return self

    def start_verifier(self) -> VerifierProcess:
        self.verifier = VerifierProcess(
            self.env, self.verifier_socket, self.master_socket if self.flush_cache else None, self.root / "verifier.log"
        ).start()
        return self.verifier

    def _wait_port(self, port: int, name: str, log: Callable[[], str], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_open("127.0.0.1", port, timeout=0.2):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not listen on {port} in {timeout} s:\n{log()}")

    def stop(self) -> None:
        if self.postfix and self.postfix.poll() is None:
            subprocess.run([POSTFIX, "-c", str(self.root / "postfix-conf"), "stop"], capture_output=True, check=False)
            self._wait_exit(self.postfix)
        if self.dovecot and self.dovecot.poll() is None:
            self.dovecot.terminate()
            self._wait_exit(self.dovecot)
        if self.verifier:
            self.verifier.stop()
        if not os.environ.get("KEEP_MAILSTACK"):  # keep the logs and configuration for a look
            shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _wait_exit(process: subprocess.Popen) -> None:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(5)

    # --- during a test ----------------------------------------------------------------------

    def reset(self) -> None:
        """Between tests: no mailbox passwords, an empty auth cache, the verifier on the fresh database."""
        if self.mailbox_passwords:
            self.set_mailbox_passwords({})
        if self.verifier is None or not self.verifier.running():
            self.start_verifier()
        self.doveadm("auth", "cache", "flush")

    def sync(self, timeout: float = 10) -> None:
        """Wait until the verifier serves what the test has committed (every change bumps the version)."""
        from accounts.models import MailAuthState

        MailAuthState.load()
        self.verifier.wait_for(MailAuthState.current_version(), timeout)

    def doveadm(self, *args: str) -> str:
        result = subprocess.run(
            [DOVEADM, "-c", str(self.root / "dovecot.conf"), *args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {result.stderr or result.stdout}")
        return result.stdout

    # Each login first waits until the verifier serves what the test committed (sync=False: it is down).

    def imap(self, user: str, password: str, source: str | None = None, sync: bool = True) -> str:
        if sync:
            self.sync()
        return imap_login(self.imap_port, user, password, source)

    def pop3(self, user: str, password: str, source: str | None = None, sync: bool = True) -> str:
        if sync:
            self.sync()
        return pop3_login(self.pop3_port, user, password, source)

    def smtp(self, user: str, password: str, *, implicit_tls: bool = False, source: str | None = None,
             send_to: str | None = None, sync: bool = True) -> str:  # fmt: skip
        if sync:
            self.sync()
        port = self.submissions_port if implicit_tls else self.submission_port
        return smtp_login(port, user, password, implicit_tls=implicit_tls, source=source, send_to=send_to)

    def postconf(self, **settings: str) -> None:
        """Change Postfix's main.cf (e.g. a policy service for the sending guard) and reload it."""
        config = str(self.root / "postfix-conf")
        for key, value in settings.items():
            subprocess.run([POSTCONF, "-c", config, "-e", f"{key}={value}"], check=True, capture_output=True)
        subprocess.run([POSTFIX, "-c", config, "reload"], check=True, capture_output=True)

    def log(self, *names: str) -> str:
        parts = [self.root / name for name in names or ("dovecot.log", "postfix.log", "verifier.log")]
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-5000:]}" for p in parts if p.exists())


# --- fixtures ------------------------------------------------------------------------------------------


def _stack_env() -> dict[str, str]:
    from django.db import connection

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "PYTHONPATH": str(ROOT),
    }


@pytest.fixture(scope="module")
def _module_mail_stack(django_db_setup, django_db_blocker) -> Iterator[MailStack | str]:
    reason = postfix_missing_reason()
    if reason:
        yield reason
        return
    with django_db_blocker.unblock():
        stack = MailStack(_stack_env()).start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def mail_stack(_module_mail_stack, transactional_db) -> MailStack:
    """Verifier + Dovecot + Postfix, reset for this test (see the module docstring)."""
    if isinstance(_module_mail_stack, str):
        service_missing(_module_mail_stack)
    _module_mail_stack.reset()
    return _module_mail_stack


@pytest.fixture
def dovecot_server(mail_stack) -> MailStack:
    return mail_stack


@pytest.fixture
def postfix_server(mail_stack) -> MailStack:
    return mail_stack


@pytest.fixture
def make_mail_stack(transactional_db) -> Iterator[Callable[..., MailStack]]:
    """A stack of the test's own: ``make_mail_stack(cache_ttl=5, flush_cache=False, postfix=False)``."""
    stacks: list[MailStack] = []

    def make(**options) -> MailStack:
        reason = postfix_missing_reason() if options.get("postfix", True) else dovecot_missing_reason()
        if reason:
            service_missing(reason)
        stack = MailStack(_stack_env(), **options)
        stacks.append(stack)
        return stack.start()

    yield make
    for stack in stacks:
        stack.stop()
