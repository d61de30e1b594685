"""The portal's one way of writing a date and a time: "1 Dec 2026, 05:48", in the organisation's time zone.

Templates use the filters of ``portal.templatetags.portal_dates`` (``|when``, ``|day``, ``|clock``, loaded
everywhere as a template builtin); forms that take a date or a time read it back with ``parse_when`` and
``parse_day``, so what a page shows is what its inputs accept.
"""

from __future__ import annotations

from datetime import date, datetime, time

from django.utils import timezone
from django.utils.dateformat import format as django_format

DAY = "j M Y"
CLOCK = "H:i"
WHEN = f"{DAY}, {CLOCK}"

# strptime equivalents of the formats above (what people type back into a form)
_DAY_INPUT = "%d %b %Y"
_WHEN_INPUTS = ("%d %b %Y, %H:%M", "%d %b %Y %H:%M")


def _local(value: datetime) -> datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


def format_when(value: datetime | date | None) -> str:
    """A moment as "1 Dec 2026, 05:48"; a plain date as "1 Dec 2026"; nothing as ""."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return django_format(_local(value), WHEN)
    if isinstance(value, date):
        return django_format(value, DAY)
    return str(value)


def format_day(value: datetime | date | None) -> str:
    """The day of a moment (in the organisation's time zone) or a date: "1 Dec 2026"."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return django_format(_local(value), DAY)
    if isinstance(value, date):
        return django_format(value, DAY)
    return str(value)


def format_clock(value: datetime | time | None) -> str:
    """The time of day of a moment: "05:48"."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return django_format(_local(value), CLOCK)
    if isinstance(value, time):
        return django_format(value, CLOCK)
    return str(value)


def _clean(text: str) -> str:
    return " ".join(text.replace(",", ", ").split()).replace(" ,", ",")


def parse_day(text: str) -> date:
    """Read "1 Dec 2026" (the month's name in any case, three letters or in full); ValueError otherwise."""
    cleaned = _clean(text)
    for pattern in (_DAY_INPUT, "%d %B %Y"):
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    raise ValueError(f"not a day like {django_format(date(2026, 12, 1), DAY)}: {text!r}")


def parse_when(text: str) -> datetime:
    """Read "1 Dec 2026, 05:48" as a moment in the organisation's time zone; ValueError otherwise."""
    cleaned = _clean(text)
    for pattern in (*_WHEN_INPUTS, "%d %B %Y, %H:%M", "%d %B %Y %H:%M"):
        try:
            naive = datetime.strptime(cleaned, pattern)
        except ValueError:
            continue
        return timezone.make_aware(naive, timezone.get_current_timezone())
    raise ValueError(f"not a moment like 1 Dec 2026, 05:48: {text!r}")
