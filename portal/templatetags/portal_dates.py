"""Template filters for the portal's one date and time format (see portal/dates.py).

A template builtin (settings.TEMPLATES), so every template can write ``{{ value|when }}`` without loading it.
"""

from __future__ import annotations

from django import template

from portal.dates import format_clock, format_day, format_when

register = template.Library()

register.filter("when", format_when)
register.filter("day", format_day)
register.filter("clock", format_clock)
