"""Invitation and reset tokens never reach a log: gunicorn's, Django's and (as docs/deploy.md sets it up) nginx's."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from portal.logredact import redact
from tests.nginx import NginxServer, require_nginx
from tests.services import ROOT, database_url, free_port, port_open

TOKEN = "Zk3vQ9secretTOKENvalue_-xyz"
PATHS = [f"/accounts/invitation/{TOKEN}/", f"/accounts/password-reset/MQ/{TOKEN}/"]


def test_it_redacts_the_token_part_of_token_paths_only():
    assert redact(f"GET /accounts/invitation/{TOKEN}/ HTTP/1.1") == "GET /accounts/invitation/[token]/ HTTP/1.1"
    assert redact(f"/portal/accounts/password-reset/MQ/{TOKEN}/") == "/portal/accounts/password-reset/[token]/"
    assert redact("/accounts/password-reset/MQ/set-password/") == "/accounts/password-reset/[token]/"
    for path in ("/accounts/password-reset/", "/accounts/password-reset/sent/", "/accounts/password-reset/done/"):
        assert redact(path) == path


def test_djangos_log_lines_have_no_token(client, db):
    """Through the portal's logging setup (the console handler), as a running portal writes them."""
    (console,) = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        client.handler.enforce_csrf_checks = True
        assert client.get(PATHS[0]).status_code == 404
        assert client.post(PATHS[0], {}).status_code == 403  # a CSRF refusal is logged with its path too
    finally:
        console.setStream(previous)
    logged = stream.getvalue()
    assert "Not Found: /accounts/invitation/[token]/" in logged and "Forbidden" in logged
    assert TOKEN not in logged


def test_the_token_pages_send_only_the_origin_as_referer(client, db):
    for path in PATHS:
        assert client.get(path)["Referrer-Policy"] == "strict-origin"


def _wait_for(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{log.read_text()}")
        if port_open("127.0.0.1", port, timeout=0.2):
            return
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not listen:\n{log.read_text()}")


@pytest.mark.django_db(transaction=True)
def test_gunicorns_access_log_has_no_token(tmp_path):
    """The real gunicorn, started the way the Procfile and the systemd unit start it (from the project folder)."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
               "--access-logfile", "-"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(port, process, log)
        for path in PATHS:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}", headers={"Host": "localhost", "Referer": f"http://x{PATHS[0]}"}
            )
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=10)  # noqa: S310 (a local test server)
        time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(10)
    text = log.read_text()
    assert text.count("[token]") >= 3, text  # two request lines and the referers
    assert TOKEN not in text


def _docs_nginx_block() -> str:
    docs = (ROOT / "docs" / "deploy.md").read_text()
    return re.search(r"<!-- nginx-log-format:[^>]*-->\n```nginx\n(.*?)```", docs, re.S).group(1)


def test_the_nginx_log_format_in_the_deploy_docs_keeps_tokens_out(tmp_path):
    require_nginx()
    port = free_port()
    block = (
        _docs_nginx_block()
        + f"""
server {{
    listen 127.0.0.1:{port};
    access_log {tmp_path}/portal.access.log portal;
    location / {{ return 204; }}
}}
"""
    )
    nginx = NginxServer(block, tmp_path, port)
    assert nginx.check().returncode == 0, nginx.check().stderr
    nginx.start()
    try:
        for path in [*PATHS, "/accounts/password-reset/sent/", f"/portal/accounts/invitation/{TOKEN}/?x=1"]:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Referer": PATHS[1]})
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 (a local test server)
    finally:
        nginx.stop()
    logged = (tmp_path / "portal.access.log").read_text()
    assert TOKEN not in logged, logged
    assert '"GET /accounts/invitation/[token]/ HTTP/1.1"' in logged
    assert '"GET /accounts/password-reset/[token]/ HTTP/1.1"' in logged
    assert '"GET /accounts/password-reset/sent/ HTTP/1.1"' in logged
    assert '"GET /portal/accounts/invitation/[token]/?x=1 HTTP/1.1"' in logged
    assert '"/accounts/password-reset/[token]"' in logged
