"""Each sender's usual hour (what the burst rule compares the last hour with), and pruning old rows.

Both run from the app's one tick (``sending.tick``, every minute), each claimed with a conditional update
of its ``next_..._at`` in ``SendingState``, so two beats or a redelivered tick never do them twice.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from monitoring.sending.models import PolicyRefusal, RelayAttempt, SenderProfile, SendingHour, SendingState

HISTORY = timedelta(days=28)
MIN_ACTIVE_HOURS = 5  # fewer hours with mail than this: no usual hour yet (the smallest usual hour applies)
PERCENTILE = 0.9  # a busy hour of theirs, not their busiest: one mailing a month does not raise it for good
PROFILES_EVERY = timedelta(hours=1)
PRUNE_EVERY = timedelta(days=1)
KEEP_HOURS = timedelta(days=400)  # a year of totals, and the weeks before it, for comparisons
KEEP_EVENTS = timedelta(days=180)


def percentile(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def usual_hours(now: datetime) -> int:
    """Work out every sender's usual hour from the last four weeks; the number of profiles that changed."""
    hours: dict[int, list[int]] = {}
    rows = SendingHour.objects.filter(hour__gte=now - HISTORY, user__isnull=False, recipients__gt=0)
    for user_id, recipients in rows.values_list("user_id", "recipients").iterator(chunk_size=5000):
        hours.setdefault(user_id, []).append(recipients)
    existing = {p.user_id: p for p in SenderProfile.objects.all()}
    changed = []
    for user_id, found in hours.items():
        usual = percentile(found, PERCENTILE) if len(found) >= MIN_ACTIVE_HOURS else None
        profile = existing.get(user_id) or SenderProfile(user_id=user_id)
        if profile.usual_hour != usual or profile.active_hours != len(found) or profile._state.adding:
            profile.usual_hour, profile.active_hours, profile.computed_at = usual, len(found), now
            changed.append(profile)
    for user_id, profile in existing.items():
        if user_id not in hours and (profile.usual_hour is not None or profile.active_hours):
            profile.usual_hour, profile.active_hours, profile.computed_at = None, 0, now
            changed.append(profile)
    with transaction.atomic():
        SenderProfile.objects.bulk_create(
            changed, update_conflicts=True, unique_fields=["user"],
            update_fields=["usual_hour", "active_hours", "computed_at"], batch_size=500,
        )  # fmt: skip
        if changed:
            SendingState.bump()
    return len(changed)


def prune(now: datetime) -> int:
    deleted = SendingHour.objects.filter(hour__lt=now - KEEP_HOURS).delete()[0]
    deleted += PolicyRefusal.objects.filter(last_at__lt=now - KEEP_EVENTS).delete()[0]
    deleted += RelayAttempt.objects.filter(hour__lt=now - KEEP_EVENTS).delete()[0]
    return deleted


def _claim(field: str, now: datetime, every: timedelta) -> bool:
    state = SendingState.load()
    due = getattr(state, field)
    if due > now:
        return False
    return bool(SendingState.objects.filter(pk=state.pk, **{field: due}).update(**{field: now + every}))


def tick(now: datetime | None = None) -> dict:
    """The beat entry "sending-tick": usual hours when due (hourly), pruning when due (daily)."""
    now = now or timezone.now()
    done = {}
    if _claim("next_profiles_at", now, PROFILES_EVERY):
        done["profiles"] = usual_hours(now)
    if _claim("next_prune_at", now, PRUNE_EVERY):
        done["pruned"] = prune(now)
    return done
