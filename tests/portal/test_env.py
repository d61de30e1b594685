from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_int, env_list, load_dotenv, parse_cache_url, parse_database_url


def test_it_reads_booleans(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG") is True
    monkeypatch.setenv("FLAG", "Off")
    assert env_bool("FLAG", True) is False
    monkeypatch.delenv("FLAG")
    assert env_bool("FLAG", True) is True


def test_it_rejects_a_bad_boolean(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env_bool("FLAG")


def test_it_rejects_a_bad_number(monkeypatch):
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured, match="N must be a whole number"):
        env_int("N", 1)
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("N", 1, minimum=1)


def test_it_splits_lists(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example, b.example ,,")
    assert env_list("HOSTS") == ["a.example", "b.example"]


def test_it_parses_postgres_urls():
    config = parse_database_url("postgres://portal:s%40cret@db.internal:5433/portal?sslmode=require")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"], config["NAME"]) == (
        "portal",
        "s@cret",
        "db.internal",
        "5433",
        "portal",
    )
    assert config["OPTIONS"] == {"sslmode": "require"}


def test_it_parses_sqlite_urls():
    assert parse_database_url("sqlite:///var/x.sqlite3")["NAME"] == "var/x.sqlite3"
    assert parse_database_url("sqlite:////srv/x.sqlite3")["NAME"] == "/srv/x.sqlite3"


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host/", "sqlite://", "nonsense"])
def test_it_rejects_bad_database_urls(url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        parse_database_url(url)


def test_it_parses_cache_urls():
    assert parse_cache_url("redis://127.0.0.1:6379/1")["BACKEND"].endswith("RedisCache")
    assert parse_cache_url("locmem://")["BACKEND"].endswith("LocMemCache")
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL"):
        parse_cache_url("memcached://x")
    with pytest.raises(ImproperlyConfigured, match="needs a folder"):
        parse_cache_url("file://")


def test_a_file_cache_url_is_relative_to_the_project_folder(tmp_path):
    """``file://var/cache`` as the README shows it: the project's var/cache, not /cache."""
    from pathlib import Path

    assert parse_cache_url("file://var/cache", base_dir=tmp_path)["LOCATION"] == str(tmp_path / "var" / "cache")
    assert parse_cache_url("file:///srv/portal/cache", base_dir=tmp_path)["LOCATION"] == "/srv/portal/cache"
    from django.conf import settings

    default = parse_cache_url("file://var/cache", base_dir=settings.BASE_DIR)["LOCATION"]
    assert Path(default) == Path(settings.BASE_DIR) / "var" / "cache"


def test_a_secret_key_needs_length_and_many_different_characters():
    import secrets

    from portal.env import secret_key_problem

    assert "at least 50" in secret_key_problem("short")
    assert "at least 12 different ones (it has 5)" in secret_key_problem("abcde" * 10)
    assert secret_key_problem(secrets.token_urlsafe(50)) is None
    assert secret_key_problem(secrets.token_hex(32)) is None


def test_it_loads_a_dotenv_file_without_overriding(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("# comment\nexport NEW_ONE='hello'\nEXISTING=from-file\n")
    monkeypatch.setenv("EXISTING", "from-env")
    monkeypatch.delenv("NEW_ONE", raising=False)
    load_dotenv(path)
    import os

    assert os.environ["NEW_ONE"] == "hello"
    assert os.environ["EXISTING"] == "from-env"
    monkeypatch.delenv("NEW_ONE")


def test_it_reports_the_bad_line_of_a_dotenv_file(tmp_path):
    path = tmp_path / ".env"
    path.write_text("GOOD=1\nthis is not a setting\n")
    with pytest.raises(ImproperlyConfigured, match=":2:"):
        load_dotenv(path)
