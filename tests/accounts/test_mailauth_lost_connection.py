"""The verifier Dovecot asks (a long-running mail-path service) recovers on its own when PostgreSQL cuts its
database connection: the failed poll closes it, the next one opens a new one and loads again."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection

from accounts.mailauth.server import Verifier
from tests.lostconnection import backend_pid, terminate_backend

pytestmark = pytest.mark.django_db(transaction=True)


def run(coroutine):
    """``asyncio.run`` in a thread of its own: a browser test earlier in the run leaves Playwright's event loop
    running in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def db_thread_backend(verifier: Verifier) -> int:
    return run(verifier._in_db_thread(backend_pid))


@pytest.fixture
def verifier(tmp_path):
    verifier = Verifier(socket_path=str(tmp_path / "auth.sock"), full_reload_seconds=0)
    yield verifier
    run(verifier._in_db_thread(lambda: connection.close()))  # the test database is dropped next
    verifier._db.shutdown(wait=True)


def test_a_cut_connection_costs_one_poll(postgres, employee, verifier):
    run(verifier.refresh())
    first = verifier.snapshot
    assert first is not None
    cut = db_thread_backend(verifier)
    terminate_backend(cut)

    with pytest.raises(OperationalError):
        run(verifier.refresh())  # the poll loop logs this (once a minute) and keeps the last data
    assert verifier.snapshot is first
    run(verifier.refresh())
    assert verifier.snapshot is not first and verifier.has_data
    assert db_thread_backend(verifier) != cut
