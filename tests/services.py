"""Real services for the tests: find them, start them, or skip with the reason.

With REQUIRE_SERVICES=1 (CI) a missing service fails the test instead.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def service_missing(reason: str) -> None:
    """Skip the test, or fail it when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but a service is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def wait_until(condition, timeout: float = 60, describe=None):
    """Poll ``condition`` (a worker in another process is doing the work) until it holds, or fail.

    Returns what ``condition()`` returned (e.g. the row it found). ``describe()`` says what the test saw,
    for the failure message (e.g. row states and the worker's log).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s" + (f"; {describe()}" if describe else ""))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_url() -> str:
    """The Redis the tests may use: TEST_REDIS_URL, else CELERY_BROKER_URL's server with database 15."""
    explicit = os.environ.get("TEST_REDIS_URL")
    if explicit:
        return explicit
    broker = os.environ.get("CELERY_BROKER_URL", "")
    base = broker if broker.startswith("redis") else "redis://127.0.0.1:6379/0"
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/15", "", ""))


def database_url(settings_dict: dict) -> str:
    """A URL for the database the test run is using (its test database), for subprocesses."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


class WorkerProcess:
    """A real ``celery worker`` in its own process group, logging to a file."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 2, name: str = "test") -> None:
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.name = name
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> WorkerProcess:
        log = self.log_path.open("ab")
        cmd = [
            sys.executable, "-m", "celery", "-A", "portal", "worker",
            "--loglevel", "INFO", "--concurrency", str(self.concurrency), "--pool", "prefork",
            "--without-gossip", "--without-mingle", "--hostname", f"{self.name}-{os.getpid()}@%h",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited with {self.process.returncode}:\n{self.log()}")
            if b" ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"celery worker did not become ready in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker dies mid-task, without acking."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if not self.process or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()


class ManagedProcess:
    """A long-running ``manage.py`` command (a mail-path service) as its own process on the test database.

    A subclass says how it is started (``command``) and how to tell that it serves (``serving``)."""

    name = "service"

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def serving(self):
        raise NotImplementedError

    def start(self, timeout: float = 60):
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", *self.command()], cwd=ROOT, env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            if self.serving() is not None:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} served no data within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
