"""Debian's nginx for the tests: a real server on a free 127.0.0.1 port, in the foreground, under a temp prefix.

``NginxServer(server_block).start()`` wraps the block (as ``gateway_nginx_config``
prints it) in a minimal nginx.conf whose logs, pid and temp folders live in the
prefix, so the test needs neither root nor /etc/nginx.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.services import port_open, service_missing

NGINX = os.environ.get("NGINX_PATH", "/usr/sbin/nginx")

MAIN_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{server}
}}
"""


def nginx_missing_reason() -> str | None:
    """Why the tests cannot use nginx here, or None."""
    path = shutil.which(NGINX) or (NGINX if os.access(NGINX, os.X_OK) else None)
    if not path:
        return f"nginx not found at {NGINX} (apt-get install nginx-light)"
    version = subprocess.run([path, "-V"], capture_output=True, text=True, check=False)
    if "http_auth_request_module" not in version.stderr + version.stdout:
        return f"{path} was built without http_auth_request_module (apt-get install nginx-light)"
    return None


def require_nginx() -> None:
    reason = nginx_missing_reason()
    if reason:
        service_missing(reason)


class NginxServer:
    def __init__(self, server_block: str, prefix: Path, port: int) -> None:
        self.prefix = Path(prefix)
        self.port = port
        self.conf = self.prefix / "nginx.conf"
        self.process: subprocess.Popen | None = None
        self.prefix.mkdir(parents=True, exist_ok=True)
        indented = "\n".join(f"    {line}" if line else "" for line in server_block.splitlines())
        self.conf.write_text(MAIN_CONF.format(prefix=self.prefix, server=indented), encoding="utf-8")

    def command(self, *extra: str) -> list[str]:
        return [NGINX, "-p", f"{self.prefix}/", "-c", str(self.conf), "-e", str(self.prefix / "error.log"), *extra]

    def check(self) -> subprocess.CompletedProcess:
        """``nginx -t`` on the configuration."""
        return subprocess.run(self.command("-t"), capture_output=True, text=True, check=False)

    def start(self, timeout: float = 10) -> NginxServer:
        log = (self.prefix / "stdout.log").open("ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}:\n{self.log()}")
            if port_open("127.0.0.1", self.port, timeout=0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen on {self.port} in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        parts = [(self.prefix / name) for name in ("stdout.log", "error.log")]
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in parts if p.exists())

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
