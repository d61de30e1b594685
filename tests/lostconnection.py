"""Cut this process's database connection as PostgreSQL does when it restarts (``pg_terminate_backend``)."""

from __future__ import annotations

import time

from tests.services import database_url


def cut_connection() -> None:
    """Terminate the backend of the current thread's default connection, from another connection."""
    import psycopg
    from django.db import connection

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 10
        while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
            if time.monotonic() > deadline:
                raise AssertionError(f"backend {pid} still there 10 s after pg_terminate_backend")
            time.sleep(0.05)
