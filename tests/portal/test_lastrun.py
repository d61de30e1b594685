from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.template.loader import render_to_string

from portal.lastrun import LastRun

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def run(ago: timedelta | None, every: timedelta | None = timedelta(minutes=30), **extra) -> LastRun:
    return LastRun("Last sweep", None if ago is None else NOW - ago, every, now=NOW, **extra)


def test_it_is_overdue_only_past_its_interval_and_grace():
    assert [run(timedelta(minutes=m)).overdue for m in (0, 30, 32, 33, 120)] == [False, False, False, True, True]
    assert run(timedelta(minutes=45), grace=timedelta(minutes=20)).overdue is False


def test_work_never_run_or_not_scheduled_is_not_overdue():
    assert run(None).overdue is False
    assert run(timedelta(days=3), every=None).overdue is False


def test_the_line_says_how_long_ago_and_turns_amber_when_overdue():
    fresh = render_to_string(
        "_last_ran.html", {"run": LastRun("Last sweep", NOW - timedelta(minutes=3), None, now=NOW)}
    )
    assert "Last sweep <time" in fresh and "3\xa0minutes ago" in fresh and "Overdue" not in fresh
    late = render_to_string("_last_ran.html", {"run": run(timedelta(hours=2))})
    assert "status-warning" in late and "it should run every 30\xa0minutes" in late
    assert "Celery worker and beat" in late
    assert "Last sweep: never." in render_to_string("_last_ran.html", {"run": run(None)})
