"""A Redis of the test's own (Debian's ``redis-server``) on a free port, which the test may stop and start.

The shared Redis of the test run is never stopped; a test about a Redis outage starts this one. It keeps no
data on disk unless asked: ``stop(keep_data=True)`` saves a snapshot first, which the next ``start()`` loads
(a Redis that comes back with what it held before the outage).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.services import free_port, port_open, service_missing

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisProcess:
    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10) -> RedisProcess:
        if not Path(REDIS_SERVER).exists():
            service_missing("redis-server is not installed (apt-get install redis-server)")
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {self.log()}")
            if port_open("127.0.0.1", self.port, timeout=0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not listen on {self.port} within {timeout} s: {self.log()}")

    def stop(self, *, keep_data: bool = False) -> None:
        """Stop the server (its port then refuses connections); ``keep_data`` saves a snapshot for ``start``."""
        if not self.running():
            return
        (self.folder / "dump.rdb").unlink(missing_ok=True)
        if keep_data:
            import redis

            redis.Redis(port=self.port, socket_timeout=5).save()
        self.process.terminate()  # with no save points configured, Redis saves nothing on SIGTERM
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        path = self.folder / "redis.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""
