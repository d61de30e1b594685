from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.template.loader import render_to_string

from portal.lastrun import LastRun, installed_at

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
IT = {"manage_monitoring": True}  # what the ``can`` context variable holds for IT staff


def run(ago: timedelta | None, every: timedelta | None = timedelta(minutes=30), **extra) -> LastRun:
    return LastRun("Last sweep", None if ago is None else NOW - ago, every, now=NOW, **extra)


def test_it_is_overdue_only_past_its_interval_and_grace():
    assert [run(timedelta(minutes=m)).overdue for m in (0, 30, 32, 33, 120)] == [False, False, False, True, True]
    assert run(timedelta(minutes=45), grace=timedelta(minutes=20)).overdue is False


def test_work_not_scheduled_is_never_overdue():
    assert run(timedelta(days=3), every=None).overdue is False
    assert run(None, every=None, since=NOW - timedelta(days=3)).overdue is False


def test_work_that_never_ran_is_overdue_once_installed_longer_than_its_interval_and_grace():
    installed = [run(None, since=NOW - timedelta(minutes=m)).overdue for m in (0, 32, 33, 60 * 24)]
    assert installed == [False, False, True, True]
    assert run(None).overdue is False  # no record of the installation: nothing to count from


def test_the_line_says_how_long_ago_and_turns_amber_when_overdue():
    fresh = render_to_string(
        "_last_ran.html", {"run": LastRun("Last sweep", NOW - timedelta(minutes=3), None, now=NOW)}
    )
    assert "Last sweep <time" in fresh and "3\xa0minutes ago" in fresh and "Overdue" not in fresh
    late = render_to_string("_last_ran.html", {"run": run(timedelta(hours=2)), "can": IT})
    assert "status-warning" in late and "it should run every 30\xa0minutes" in late
    assert "Celery worker and beat" in late


def test_work_that_never_ran_reads_not_run_yet_then_overdue_with_the_hint():
    fresh = render_to_string("_last_ran.html", {"run": run(None, since=NOW - timedelta(minutes=5))})
    assert "Last sweep: not run yet." in fresh and "Overdue" not in fresh and "never" not in fresh
    late = render_to_string("_last_ran.html", {"run": run(None, since=NOW - timedelta(days=3)), "can": IT})
    assert "status-warning" in late and "Overdue" in late
    assert "Last sweep: never in the 3\xa0days since installation; it should run every 30\xa0minutes." in late
    assert "Celery worker and beat" in late


def test_it_staff_read_what_to_check_and_everyone_else_a_plain_sentence():
    late = run(timedelta(hours=2), hint="Is manage.py thing running?", plain_hint="Checks stopped. IT sees it.")
    for can in ({"manage_monitoring": False}, {}):
        plain = render_to_string("_last_ran.html", {"run": late, "can": can})
        assert "Overdue" in plain and "Checks stopped. IT sees it." in plain and "manage.py" not in plain
    technical = render_to_string("_last_ran.html", {"run": late, "can": IT})
    assert "Is manage.py thing running?" in technical and "Checks stopped" not in technical
    default = render_to_string("_last_ran.html", {"run": run(timedelta(hours=2))})
    assert "have stopped, so it may be out of date. IT staff see the same warning" in default
    assert "Celery" not in default


@pytest.mark.django_db
def test_installation_is_when_the_app_s_first_migration_was_applied():
    applied = MigrationRecorder.Migration.objects.filter(app="dnsbl").order_by("applied").first().applied
    assert installed_at("dnsbl") == applied
    assert installed_at("no_such_app") is None
