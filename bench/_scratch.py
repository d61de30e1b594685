"""The scratch installation a benchmark runs against: a new temporary folder as var/ and a fresh database.

A benchmark is a script (``.venv/bin/python bench/<name>.py``), so Python finds this module next to it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scratch_django(name: str, *, database_url: str | None = None, **env: str) -> Path:
    """Set Django up on a fresh, migrated database in a new folder ``bench-<name>-*`` and return the folder.

    The database is SQLite in that folder unless ``database_url`` names a scratch database of your own;
    ``env`` adds environment variables (a broker URL, a log level) before Django reads its settings.
    """
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PORTAL_VAR_DIR": str(work),
            "DATABASE_URL": database_url or f"sqlite:///{work / 'bench.sqlite3'}",
            **env,
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return work


def _admin_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def scratch_postgres(name: str) -> str | None:
    """A fresh PostgreSQL database ``name`` on BENCH_POSTGRES_URL's server (default the local one), or None
    when PostgreSQL cannot be reached (then ``scratch_django`` uses SQLite)."""
    from urllib.parse import urlsplit, urlunsplit

    admin_url = _admin_url()
    try:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
    except Exception as exc:
        print(f"PostgreSQL unavailable ({exc.__class__.__name__}); using SQLite")
        return None
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def drop_scratch_postgres(name: str) -> None:
    """Drop the scratch database ``name`` again, when the run used one."""
    if name not in os.environ.get("DATABASE_URL", ""):
        return
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
