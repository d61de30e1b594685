"""When a piece of background work last ran, and whether that is later than it should be.

Each dashboard of background work (block-list sweeps, load samples, drift checks, the mail-path services)
shows one line from ``templates/_last_ran.html``: "Last sweep 3 minutes ago", amber when overdue, with a hint
for IT staff (which process to check) or, for people without the IT capability, a plain sentence. The work
itself is driven by the ticks and recovers on its own; this line is how a person sees that it did.

Work that never ran is overdue too once its app has been installed for longer than the work's interval and
grace (beat never started, the policy service never launched); before that it has simply not run yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Min
from django.utils import timezone
from django.utils.timesince import timesince

# Not "IT has been alerted": the work that sends alerts may be what stopped, so say only what is sure.
TELL_IT = "IT staff see the same warning on this page."


def installed_at(app_label: str) -> datetime | None:
    """When ``app_label``'s first migration was applied: its background work could run from then on.

    The migrations table is the one record of when the portal (or an app added by an upgrade) was installed;
    None where it holds nothing for the app.
    """
    return MigrationRecorder.Migration.objects.filter(app=app_label).aggregate(at=Min("applied"))["at"]


@dataclass(frozen=True)
class LastRun:
    what: str  # "Last sweep"
    at: datetime | None
    every: timedelta | None  # None: the work is not scheduled (switched off), so never overdue
    grace: timedelta = timedelta(minutes=2)  # a tick's delay, the work's own duration
    hint: str = "Are the Celery worker and beat running?"  # for IT staff: what to look at
    # For everyone else (executives): what it means and what to do, without commands.
    plain_hint: str = "The automatic checks behind this page have stopped, so it may be out of date. " + TELL_IT
    now: datetime = field(default_factory=timezone.now)
    since: datetime | None = None  # when the work could first have run (``installed_at``); None: unknown

    @property
    def overdue(self) -> bool:
        last = self.at or self.since  # never ran: late counting from when it could have
        return self.every is not None and last is not None and self.now - last > self.every + self.grace

    @property
    def ago(self) -> str:
        if self.at is None:
            return "never"
        return "just now" if self.now - self.at < timedelta(minutes=1) else f"{timesince(self.at, self.now)} ago"

    @property
    def installed_for(self) -> str:
        return timesince(self.since, self.now) if self.since else ""

    @property
    def every_text(self) -> str:
        return timesince(self.now - self.every, self.now) if self.every else ""
