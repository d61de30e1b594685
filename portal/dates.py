"""The portal's one way of writing a date and a time: "1 Dec 2026, 05:48", in the organisation's time zone.

Templates use the filters of ``portal.templatetags.portal_dates`` (``|when``, ``|day``, ``|clock``, loaded
everywhere as a template builtin); forms take a day or a moment with ``DayField`` and ``WallClockField``, text
boxes in the same format (never the browser's mm/dd/yyyy picker), so what a page shows is what its inputs
accept. Month names are English, like every page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time

from django import forms
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


def read_wall_clock(text: str) -> datetime:
    """Read "1 Dec 2026, 05:48" as a wall-clock time (naive); ValueError otherwise."""
    cleaned = _clean(text)
    for pattern in (*_WHEN_INPUTS, "%d %B %Y, %H:%M", "%d %B %Y %H:%M"):
        try:
            return datetime.strptime(cleaned, pattern)
        except ValueError:
            continue
    raise ValueError(f"not a moment like 1 Dec 2026, 05:48: {text!r}")


def parse_when(text: str) -> datetime:
    """Read "1 Dec 2026, 05:48" as a moment in the organisation's time zone; ValueError otherwise."""
    return timezone.make_aware(read_wall_clock(text), timezone.get_current_timezone())


# --- Form fields: a text box in the same format (never the browser's mm/dd/yyyy picker) ----------------


class _FormattedInput(forms.TextInput):
    def __init__(self, write: Callable[[datetime], str], example: str, attrs: dict | None = None) -> None:
        super().__init__({"placeholder": f"e.g. {example}", "autocomplete": "off", **(attrs or {})})
        self.write = write

    def format_value(self, value):
        if isinstance(value, (date, datetime)):
            return self.write(value)
        return super().format_value(value)


class DayField(forms.DateField):
    """A day typed as "1 Dec 2026" (the month's name, so nobody wonders whether 1/12 is January)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("widget", _FormattedInput(format_day, "1 Dec 2026"))
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return parse_day(str(value))
        except ValueError:
            pass
        try:
            return date.fromisoformat(str(value).strip())  # 2026-12-01 in a bookmarked or exported link
        except ValueError:
            raise forms.ValidationError("Write the day as 1 Dec 2026.", code="invalid") from None


class WallClockField(forms.DateTimeField):
    """A day and time typed as "1 Dec 2026, 09:00"; cleaned to a naive wall-clock time, which the form
    places in the time zone it means (the organisation's, for a campaign)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("widget", _FormattedInput(lambda v: django_format(v, WHEN), "1 Dec 2026, 09:00"))
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value
        try:
            return read_wall_clock(str(value))
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(str(value).strip()).replace(tzinfo=None)  # 2026-12-01T09:00 (scripts)
        except ValueError:
            raise forms.ValidationError("Write the day and time as 1 Dec 2026, 09:00.", code="invalid") from None
