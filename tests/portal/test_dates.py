"""The one date and time format: the |when, |day and |clock filters and the parsers forms read it back with."""

from __future__ import annotations

import datetime as dt
import pathlib
import re
import zoneinfo

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.utils import timezone

from portal.dates import format_day, format_when, parse_day, parse_when

UTC = dt.UTC
MOMENT = dt.datetime(2026, 12, 1, 5, 48, 30, tzinfo=UTC)


def _render(source: str, **context) -> str:
    return Template(source).render(Context(context))


def test_it_writes_a_moment_with_day_and_time():
    assert _render("{{ v|when }}", v=MOMENT) == "1 Dec 2026, 05:48"


def test_it_writes_days_and_times_alone():
    assert _render("{{ v|day }} {{ v|clock }}", v=MOMENT) == "1 Dec 2026 05:48"
    assert _render("{{ v|day }}", v=dt.date(2027, 1, 9)) == "9 Jan 2027"
    assert _render("{{ v|when }}", v=dt.date(2027, 1, 9)) == "9 Jan 2027"


@override_settings(TIME_ZONE="Europe/Berlin")
def test_it_writes_in_the_organisation_time_zone():
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        assert _render("{{ v|when }}", v=dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "1 Jan 2027, 00:30"
        assert _render("{{ v|day }}", v=dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "1 Jan 2027"


def test_it_leaves_nothing_empty_so_default_applies():
    assert _render('{{ v|when|default:"never" }} {{ v|day|default:"—" }}', v=None) == "never —"


def test_it_reads_back_what_it_writes():
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        moment = parse_when(format_when(MOMENT))
        assert moment == MOMENT.replace(second=0)
        assert parse_when("1 dec 2026 6:48") == moment
        assert parse_when("01 December 2026,06:48") == moment
    assert parse_day(format_day(dt.date(2027, 1, 9))) == dt.date(2027, 1, 9)
    assert parse_day("9 january 2027") == dt.date(2027, 1, 9)


@pytest.mark.parametrize("text", ["", "12/01/2026", "2026-12-01", "31 Feb 2026", "1 Dec 2026, 25:00"])
def test_it_refuses_other_formats(text):
    with pytest.raises(ValueError):
        parse_when(text)


def test_no_page_formats_dates_its_own_way():
    """Only machine formats (|date:"c" in a link) and short chart axis labels ("j M") stay on Django's |date."""
    root = pathlib.Path(__file__).resolve().parents[2] / "templates"
    own = re.compile(r"""\|date:(["'])(?!c\1|j M\1)""")
    offenders = [str(path.relative_to(root)) for path in root.rglob("*.*") if own.search(path.read_text())]
    assert offenders == []
