"""When a campaign runs: once, every N days / weeks / months, or quarterly, in the organisation's time zone.

Occurrences are computed from the start each time (never by adding to the previous one), so a campaign that
starts on 31 January runs on 28/29 February and again on 31 March, and the wall-clock time stays the same
across daylight-saving changes. A time that does not exist on a spring-forward day runs at the same wall-clock
time with the earlier offset (an hour later on the clock); an ambiguous autumn time runs at its first instance.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import models

UTC = dt.UTC


class Repeat(models.TextChoices):
    ONCE = "once", "Once"
    DAYS = "days", "Every N days"
    WEEKS = "weeks", "Every N weeks"
    MONTHS = "months", "Every N months"
    QUARTERLY = "quarterly", "Quarterly"


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months, clamped to the last day of a shorter month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def _aware(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant of a wall-clock time in ``zone`` (see the module docstring for gaps and folds)."""
    candidate = local.replace(tzinfo=zone, fold=0)
    return candidate.astimezone(UTC)


@dataclass(frozen=True)
class Schedule:
    repeat: str
    interval: int
    starts_at: dt.datetime  # aware
    zone: ZoneInfo

    @property
    def step_months(self) -> int:
        return 3 if self.repeat == Repeat.QUARTERLY else max(self.interval, 1)

    @property
    def step_days(self) -> int:
        return max(self.interval, 1) * (7 if self.repeat == Repeat.WEEKS else 1)

    def occurrence(self, k: int) -> dt.datetime:
        """The k-th occurrence (k = 0 is the start), as an aware UTC datetime."""
        local_start = self.starts_at.astimezone(self.zone).replace(tzinfo=None)
        if k == 0 or self.repeat == Repeat.ONCE:
            return _aware(local_start, self.zone)
        if self.repeat in (Repeat.DAYS, Repeat.WEEKS):
            local = local_start + dt.timedelta(days=k * self.step_days)
        else:
            day = add_months(local_start.date(), k * self.step_months)
            local = dt.datetime.combine(day, local_start.time())
        return _aware(local, self.zone)

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first occurrence strictly after ``moment``; None when there is none (a past "once")."""
        if self.repeat == Repeat.ONCE:
            first = self.occurrence(0)
            return first if first > moment else None
        if moment < self.occurrence(0):
            return self.occurrence(0)
        # Estimate k from the elapsed time, then step: DST and month lengths move it by at most one.
        elapsed_days = (moment - self.starts_at).total_seconds() / 86400
        per_step = self.step_days if self.repeat in (Repeat.DAYS, Repeat.WEEKS) else self.step_months * 28
        k = max(int(elapsed_days // per_step) - 1, 0)
        while self.occurrence(k) <= moment:
            k += 1
        while k > 0 and self.occurrence(k - 1) > moment:
            k -= 1
        return self.occurrence(k)

    def upcoming(self, moment: dt.datetime, count: int = 3) -> list[dt.datetime]:
        found: list[dt.datetime] = []
        current: dt.datetime | None = moment
        while len(found) < count:
            current = self.next_after(current)
            if current is None:
                break
            found.append(current)
        return found

    def describe(self) -> str:
        local = self.starts_at.astimezone(self.zone)
        when = f"{local:%H:%M} ({self.zone.key})"
        if self.repeat == Repeat.ONCE:
            return f"Once, on {local:%d %b %Y} at {when}"
        if self.repeat == Repeat.QUARTERLY:
            return f"Quarterly from {local:%d %b %Y}, at {when}"
        unit = {Repeat.DAYS: "day", Repeat.WEEKS: "week", Repeat.MONTHS: "month"}[Repeat(self.repeat)]
        every = f"Every {unit}" if self.interval == 1 else f"Every {self.interval} {unit}s"
        return f"{every} from {local:%d %b %Y}, at {when}"
