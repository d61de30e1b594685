"""Cut database connections as PostgreSQL does when it restarts (``pg_terminate_backend``): one backend,
the current thread's, or every other connection to the database (workers' and their heartbeats')."""

from __future__ import annotations

import time

from tests.services import database_url


def terminate_backend(pid: int) -> None:
    """End the PostgreSQL backend ``pid`` from another connection, and wait until it is gone."""
    import psycopg
    from django.db import connection

    with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 10
        while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
            if time.monotonic() > deadline:
                raise AssertionError(f"backend {pid} still there 10 s after pg_terminate_backend")
            time.sleep(0.05)


def backend_pid() -> int:
    """The backend of the current thread's default connection (opened if need be)."""
    from django.db import connection

    connection.ensure_connection()
    return connection.connection.info.backend_pid


def cut_connection() -> None:
    """Terminate the backend of the current thread's default connection."""
    terminate_backend(backend_pid())


def cut_database_connections() -> int:
    """``pg_terminate_backend`` every other connection to this database (workers' and their heartbeats')."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]
