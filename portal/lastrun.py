"""When a piece of background work last ran, and whether that is later than it should be.

Each dashboard of background work (block-list sweeps, load samples, drift checks, the mail-path services)
shows one line from ``templates/_last_ran.html``: "Last sweep 3 minutes ago", amber when overdue. The work
itself is driven by the ticks and recovers on its own; this line is how a person sees that it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.timesince import timesince


@dataclass(frozen=True)
class LastRun:
    what: str  # "Last sweep"
    at: datetime | None
    every: timedelta | None  # None: the work is not scheduled (switched off), so never overdue
    grace: timedelta = timedelta(minutes=2)  # a tick's delay, the work's own duration
    hint: str = "Are the Celery worker and beat running?"
    now: datetime = field(default_factory=timezone.now)

    @property
    def overdue(self) -> bool:
        return self.every is not None and self.at is not None and self.now - self.at > self.every + self.grace

    @property
    def ago(self) -> str:
        if self.at is None:
            return "never"
        return "just now" if self.now - self.at < timedelta(minutes=1) else f"{timesince(self.at, self.now)} ago"

    @property
    def every_text(self) -> str:
        return timesince(self.now - self.every, self.now) if self.every else ""
