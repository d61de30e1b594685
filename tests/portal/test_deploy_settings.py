"""Production settings: refuse to start when unsafe, and `check --deploy` is clean."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from tests.services import ROOT


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PORTAL_"))}
    for key in ("SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE",
                "CSRF_COOKIE_SECURE", "CACHE_URL", "EMAIL_BACKEND"):  # fmt: skip
        clean.pop(key, None)
    clean["PORTAL_ENV_FILE"] = "/nonexistent/.env"
    clean["PORTAL_VAR_DIR"] = str(ROOT / "var" / "test" / "deploy")
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_it_refuses_to_start_without_a_secret_key():
    result = run_manage("check", DEBUG="0", ALLOWED_HOSTS="portal.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize("command", ["check", "migrate", "makemigrations", "dnsbl_check"])
def test_every_command_names_the_missing_setting(command):
    """Not Django's later "Models aren't loaded yet", whichever command runs first."""
    result = run_manage(command, DEBUG="0", ALLOWED_HOSTS="portal.example.com")
    assert result.returncode == 1
    assert f"manage.py {command}: the settings are incomplete: SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert "on a development machine: DEBUG=1 python manage.py" not in result.stderr  # DEBUG=0 was asked for
    result = run_manage(command)  # nothing set: a developer running it by hand
    assert "on a development machine: DEBUG=1 python manage.py" in result.stderr


def test_it_refuses_a_weak_secret_key():
    result = run_manage("check", DEBUG="0", ALLOWED_HOSTS="portal.example.com", SECRET_KEY="short")
    assert result.returncode != 0
    assert "at least 50 random characters" in result.stderr


def test_it_refuses_a_long_secret_key_of_few_different_characters():
    result = run_manage("check", DEBUG="0", ALLOWED_HOSTS="portal.example.com", SECRET_KEY="abcde" * 10)
    assert result.returncode != 0
    assert "at least 12 different ones" in result.stderr


def test_it_refuses_to_start_without_allowed_hosts():
    result = run_manage("check", DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is not set" in result.stderr


def test_check_deploy_reports_no_issues():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="portal.example.com",
        DATABASE_URL="postgres://portal@127.0.0.1:5432/portal",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        CACHE_URL="redis://127.0.0.1:6379/1",
        EMAIL_HOST="smtp.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_runs_generate_a_secret_key_once(tmp_path):
    var = tmp_path / "var"
    first = run_manage("check", DEBUG="1", PORTAL_VAR_DIR=str(var))
    assert first.returncode == 0, first.stderr
    key = (var / "secret_key").read_text()
    run_manage("check", DEBUG="1", PORTAL_VAR_DIR=str(var))
    assert (var / "secret_key").read_text() == key
    assert len(key) >= 50
    assert oct((var / "secret_key").stat().st_mode)[-3:] == "600"
