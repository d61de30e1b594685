"""The sending guard's policy service for the tests: ``manage.py mail_policy_server`` as its own process on
the test database, a raw client of the policy protocol, and Postfix (``tests/mailserver.py``) wired to it
with ``manage.py mail_policy_config``'s own lines.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from tests.services import ManagedProcess, free_port


def rcpt(login: str = "", sender: str = "", recipient: str = "bob@example.org", **extra: str) -> dict[str, str]:
    """A RCPT request as Postfix 3.7 writes it (the attributes the guard reads, and a few it ignores)."""
    return {
        "request": "smtpd_access_policy",
        "protocol_state": "RCPT",
        "protocol_name": "ESMTP",
        "client_address": "192.0.2.7",
        "client_name": "laptop.example.net",
        "helo_name": "laptop",
        "sender": sender or login,
        "recipient": recipient,
        "recipient_count": "0",
        "queue_id": "",
        "instance": "1a2b.5e6f7a8b.1",
        "size": "0",
        "sasl_method": "PLAIN" if login else "",
        "sasl_username": login,
        "encryption_protocol": "TLSv1.3",
        **extra,
    }


def end_of_message(login: str, recipients: int = 1, **extra: str) -> dict[str, str]:
    return {**rcpt(login), "protocol_state": "END-OF-MESSAGE", "recipient": "", "recipient_count": str(recipients),
            **extra}  # fmt: skip


class PolicyClient:
    """One connection speaking the protocol, as one Postfix smtpd process does."""

    def __init__(self, address: tuple[str, int] | str, timeout: float = 5) -> None:
        if isinstance(address, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(address)
        else:
            self.sock = socket.create_connection(address, timeout=timeout)
        self.file = self.sock.makefile("rb")

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def read_answer(self) -> str | None:
        """The action of the next answer; None when the service closed the connection."""
        line = self.file.readline()
        if not line:
            return None
        assert line.startswith(b"action="), line
        assert self.file.readline() == b"\n"
        return line[len(b"action=") :].decode().rstrip("\n")

    def ask(self, request: dict[str, str]) -> str | None:
        from monitoring.sending.policy.protocol import encode

        self.send(encode(request))
        return self.read_answer()

    def closed(self) -> bool:
        return self.file.readline() == b""

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class PolicyServiceProcess(ManagedProcess):
    """``manage.py mail_policy_server`` on a free port of 127.0.0.1, on the test database."""

    name = "mail_policy_server"

    def __init__(self, env: dict[str, str], log_path: Path, *, counters: str = "memory") -> None:
        super().__init__(env, log_path)
        self.port = free_port()
        self.listen = f"127.0.0.1:{self.port}"
        self.counters = counters

    def command(self) -> list[str]:
        return [
            "mail_policy_server", "--listen", self.listen, "--counters", self.counters, "--poll", "0.2",
            "--write-interval", "0.3",
        ]  # fmt: skip

    def serving(self) -> str | None:
        """The version the service serves ("<sending>.<mail auth>"), or None."""
        try:
            client = PolicyClient(("127.0.0.1", self.port), timeout=2)
        except OSError:
            return None
        try:
            client.send(b"request=portal_status\n\n")
            answer = client.read_answer() or ""
        except OSError:
            return None
        finally:
            client.close()
        fields = answer.split()
        return fields[1] if fields[:1] == ["OK"] else None

    def sync(self, timeout: float = 10) -> None:
        """Wait until the service serves what the test has committed."""
        from monitoring.sending.policy.snapshot import version

        wanted = ".".join(str(v) for v in version())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.serving() == wanted:
                return
            time.sleep(0.05)
        raise AssertionError(f"the policy service did not load version {wanted} in {timeout} s:\n{self.log()}")


def main_cf_settings(text: str) -> dict[str, str]:
    """``name = value`` settings of a main.cf fragment (comments skipped, continuation lines joined)."""
    settings: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and name:
            settings[name] += " " + line.strip()
        else:
            name, _, value = line.partition("=")
            name = name.strip()
            settings[name] = value.strip()
    return settings


def wire_postfix(stack, listen: str, *, timeout: int = 5, relay: bool = False) -> None:
    """Put the guard into the stack's Postfix with ``mail_policy_config``'s lines (main.cf and master.cf)."""
    from django.core.management import call_command

    from monitoring.sending.policy.config import Options, master_settings

    folder = stack.root / "policy"
    args = ["mail_policy_config", "--write", str(folder), "--listen", listen, "--timeout", str(timeout),
            "--submission", f"127.0.0.1:{stack.submission_port}",
            "--submissions", f"127.0.0.1:{stack.submissions_port}"]  # fmt: skip
    if not relay:
        args.append("--no-relay")
    call_command(*args, stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings = main_cf_settings((folder / "postfix" / "main.cf.sending").read_text())
    options = Options(
        listen=listen, submission=f"127.0.0.1:{stack.submission_port}",
        submissions=f"127.0.0.1:{stack.submissions_port}",
    )  # fmt: skip
    config = str(stack.root / "postfix-conf")
    for key, value in master_settings(options).items():
        subprocess.run(["/usr/sbin/postconf", "-c", config, "-P", f"{key}={value}"], check=True, capture_output=True)
    stack.postconf(**settings)
