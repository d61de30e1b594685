"""Beat's and the worker's heartbeats outlive a database connection that PostgreSQL cut."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from portal.celery import _beat_published, _beat_started, _worker_started
from portal.models import Heartbeat
from tests.lostconnection import cut_connection

pytestmark = pytest.mark.django_db(transaction=True)


def test_beat_keeps_beating_after_its_connection_was_cut(postgres):
    _beat_started()
    first = connection.connection.info.backend_pid
    cut_connection()
    _beat_published()  # on a new connection, not an OperationalError
    assert Heartbeat.age("beat") < timedelta(seconds=5)
    assert connection.connection.info.backend_pid != first


def test_a_worker_starting_on_a_cut_connection_still_says_it_is_alive(postgres):
    Heartbeat.beat("beat")
    cut_connection()
    _worker_started()
    assert Heartbeat.age("worker") < timedelta(seconds=5)
