from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from policies.schedules import Repeat, Schedule, add_months

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=LONDON)


def test_add_months_clamps_to_the_month_end():
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2028, 1, 31), 1) == dt.date(2028, 2, 29)  # leap year
    assert add_months(dt.date(2026, 1, 31), 2) == dt.date(2026, 3, 31)
    assert add_months(dt.date(2026, 11, 30), 3) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2026, 12, 15), 1) == dt.date(2027, 1, 15)


def test_monthly_from_the_31st_returns_to_the_31st_after_a_short_month():
    schedule = Schedule(Repeat.MONTHS, 1, local(2026, 1, 31, 9, 0), LONDON)
    got = [o.astimezone(LONDON) for o in schedule.upcoming(local(2026, 1, 1), count=4)]
    assert [(o.month, o.day, o.hour) for o in got] == [(1, 31, 9), (2, 28, 9), (3, 31, 9), (4, 30, 9)]


def test_weekly_keeps_the_wall_clock_time_across_the_spring_dst_change():
    # Clocks go forward on Sunday 29 March 2026 in London.
    schedule = Schedule(Repeat.WEEKS, 1, local(2026, 3, 23, 9, 0), LONDON)
    first, second = schedule.upcoming(local(2026, 3, 23, 8, 0), count=2)
    assert first == dt.datetime(2026, 3, 23, 9, 0, tzinfo=UTC)
    assert second == dt.datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # 09:00 BST
    assert second.astimezone(LONDON).hour == 9


def test_daily_keeps_the_wall_clock_time_across_the_autumn_dst_change():
    # Clocks go back on Sunday 25 October 2026 in London.
    schedule = Schedule(Repeat.DAYS, 1, local(2026, 10, 24, 9, 0), LONDON)
    first, second = schedule.upcoming(local(2026, 10, 24, 0, 0), count=2)
    assert first == dt.datetime(2026, 10, 24, 8, 0, tzinfo=UTC)
    assert second == dt.datetime(2026, 10, 25, 9, 0, tzinfo=UTC)
    assert {o.astimezone(LONDON).hour for o in (first, second)} == {9}


def test_a_time_that_does_not_exist_on_the_spring_day_runs_once_with_the_earlier_offset():
    schedule = Schedule(Repeat.DAYS, 1, local(2026, 3, 28, 1, 30), LONDON)
    occurrences = schedule.upcoming(local(2026, 3, 28, 0, 0), count=3)
    # 28 Mar 01:30 GMT, 29 Mar "01:30" does not exist -> 01:30 UTC (02:30 BST), 30 Mar 01:30 BST.
    assert occurrences == [
        dt.datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
        dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        dt.datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]


def test_an_ambiguous_autumn_time_runs_once_at_its_first_instance():
    schedule = Schedule(Repeat.DAYS, 1, local(2026, 10, 24, 1, 30), LONDON)
    occurrences = schedule.upcoming(local(2026, 10, 24, 0, 0), count=3)
    assert occurrences[1] == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST, the first 01:30
    assert occurrences[2] == dt.datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
    assert len(set(occurrences)) == 3


def test_quarterly_runs_every_three_months_from_the_start():
    schedule = Schedule(Repeat.QUARTERLY, 1, local(2026, 2, 15, 10, 0), LONDON)
    got = [o.astimezone(LONDON).date() for o in schedule.upcoming(local(2026, 1, 1), count=5)]
    assert got == [
        dt.date(2026, 2, 15),
        dt.date(2026, 5, 15),
        dt.date(2026, 8, 15),
        dt.date(2026, 11, 15),
        dt.date(2027, 2, 15),
    ]


def test_every_n_days_and_weeks():
    days = Schedule(Repeat.DAYS, 10, local(2026, 1, 1, 8, 0), LONDON)
    assert [o.astimezone(LONDON).day for o in days.upcoming(local(2026, 1, 5), count=3)] == [11, 21, 31]
    weeks = Schedule(Repeat.WEEKS, 2, local(2026, 1, 5, 8, 0), LONDON)
    assert [o.astimezone(LONDON).date() for o in weeks.upcoming(local(2026, 1, 5, 8, 0), count=2)] == [
        dt.date(2026, 1, 19),
        dt.date(2026, 2, 2),
    ]


def test_once_has_a_single_occurrence():
    schedule = Schedule(Repeat.ONCE, 1, local(2026, 6, 1, 9, 0), LONDON)
    assert schedule.next_after(local(2026, 5, 1)) == local(2026, 6, 1, 9, 0)
    assert schedule.next_after(local(2026, 6, 1, 9, 0)) is None


@pytest.mark.parametrize("months_later", [1, 13, 121])
def test_next_after_is_exact_far_from_the_start(months_later):
    schedule = Schedule(Repeat.MONTHS, 1, local(2020, 1, 31, 9, 0), LONDON)
    moment = local(2020, 1, 31, 9, 0) + dt.timedelta(days=30.44 * months_later)
    following = schedule.next_after(moment)
    assert following > moment
    assert following - moment < dt.timedelta(days=31)
    previous = [o for o in (schedule.occurrence(k) for k in range(months_later + 3)) if o <= moment]
    assert previous and schedule.occurrence(len(previous)) == following


def test_in_new_york_the_same_rules_apply():
    new_york = ZoneInfo("America/New_York")
    # US clocks go forward on 8 March 2026.
    schedule = Schedule(Repeat.DAYS, 1, dt.datetime(2026, 3, 7, 9, 0, tzinfo=new_york), new_york)
    first, second = schedule.upcoming(dt.datetime(2026, 3, 7, tzinfo=new_york), count=2)
    assert (first.hour, second.hour) == (14, 13)  # 09:00 EST, then 09:00 EDT


@pytest.mark.django_db
def test_a_campaign_schedules_its_first_run_from_the_org_time_zone(settings):
    from policies.models import Campaign

    settings.TIME_ZONE = "Europe/London"
    with time_machine.travel(dt.datetime(2026, 3, 27, 12, 0, tzinfo=UTC), tick=False):
        campaign = Campaign(
            name="Weekly", subject="s", message="m", repeat=Repeat.WEEKS, starts_at=local(2026, 3, 20, 9, 0)
        )
        campaign.reschedule()
    # 20 Mar was last week; the next is Friday 27 Mar at 09:00 GMT... already past at 12:00 -> 3 Apr 09:00 BST.
    assert campaign.next_run_at == dt.datetime(2026, 4, 3, 8, 0, tzinfo=UTC)
    campaign.active = False
    campaign.reschedule()
    assert campaign.next_run_at is None
