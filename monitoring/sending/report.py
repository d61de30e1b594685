"""What the *Sending* pages, the home page and a person's user page show: stored rows only, no I/O.

The totals are the policy service's batches (``SendingHour``, written every few seconds): the pages lag
the mail server by at most one batch interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, Sum
from django.utils import timezone

from accounts.user_sections import Section
from monitoring.sending.models import (
    LimitOverride,
    PolicyRefusal,
    RelayAttempt,
    SenderProfile,
    SendingHour,
    SendingSettings,
    SendingState,
    SendingSuspension,
)
from monitoring.status import StatusLine
from portal.lastrun import TELL_IT, LastRun, installed_at

AREA = "Sending"
TOTALS = ("messages", "recipients", "attempted", "deferred", "refused")
CHART_HOURS = 48


def hour_start(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def day_and_week_start(now: datetime) -> tuple[datetime, datetime]:
    local = timezone.localtime(now)
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return today, today - timedelta(days=today.weekday())


def senders_since(since: datetime, until: datetime | None = None, limit: int = 20) -> list[dict]:
    """Logins by recipients sent (then tried) from ``since`` (to ``until``): the top senders of a period."""
    rows = SendingHour.objects.filter(hour__gte=since)
    if until is not None:
        rows = rows.filter(hour__lte=until)
    return list(
        rows.values("login")
        .annotate(user_id=Max("user_id"), **{name: Sum(name) for name in TOTALS})
        .order_by("-recipients", "-attempted", "login")[:limit]
    )


def per_person(now: datetime, limit: int = 100) -> list[dict]:
    """Messages and recipients per login today and this week (the dashboard's main table)."""
    today, week = day_and_week_start(now)
    rows = {}
    for row in senders_since(week, limit=limit):
        rows[row["login"]] = {**row, "today_messages": 0, "today_recipients": 0}
    for row in (
        SendingHour.objects.filter(hour__gte=today, login__in=rows.keys())
        .values("login")
        .annotate(messages=Sum("messages"), recipients=Sum("recipients"))
    ):
        rows[row["login"]].update(today_messages=row["messages"], today_recipients=row["recipients"])
    return list(rows.values())


def hourly_volume(now: datetime, hours: int = CHART_HOURS) -> list[dict]:
    """Messages and recipients per hour, oldest first, every hour present (zero when nothing was sent)."""
    end = hour_start(now)
    start = end - timedelta(hours=hours - 1)
    found = {
        row["hour"]: row
        for row in SendingHour.objects.filter(hour__gte=start)
        .values("hour")
        .annotate(messages=Sum("messages"), recipients=Sum("recipients"), deferred=Sum("deferred"))
    }
    series = []
    for index in range(hours):
        hour = start + timedelta(hours=index)
        row = found.get(hour, {})
        series.append(
            {"hour": hour, "messages": row.get("messages", 0), "recipients": row.get("recipients", 0),
             "deferred": row.get("deferred", 0)}
        )  # fmt: skip
    return series


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    tick: str


def volume_chart(series: list[dict], width: int = 720, height: int = 160) -> dict:
    """An SVG-ready bar chart of recipients per hour (no script: the template draws rectangles)."""
    top = max((point["recipients"] for point in series), default=0) or 1
    left, bottom = 40, height - 20
    slot = (width - left) / max(len(series), 1)
    bars = []
    for index, point in enumerate(series):
        bar_height = (bottom - 8) * point["recipients"] / top
        local = timezone.localtime(point["hour"])
        tick = local.strftime("%H:00") if local.hour % 6 == 0 else ""
        label = f"{local:%d %b %H}:00: {point['recipients']} recipients in {point['messages']} messages"
        bars.append(Bar(left + index * slot + 1, bottom - bar_height, max(slot - 2, 1), bar_height, label, tick))
    return {
        "width": width,
        "height": height,
        "left": left,
        "bottom": bottom,
        "top_value": top,
        "bars": bars,
        "empty": not any(point["recipients"] for point in series),
    }


def refusal_counts(since: datetime) -> dict[str, int]:
    counts = dict.fromkeys(PolicyRefusal.Kind.values, 0)
    for row in PolicyRefusal.objects.filter(last_at__gte=since).values("kind").annotate(total=Sum("count")):
        counts[row["kind"]] = row["total"]
    return counts


def relay_by_address(since: datetime, limit: int = 20) -> list[dict]:
    return list(
        RelayAttempt.objects.filter(hour__gte=since)
        .values("client_address")
        .annotate(attempts=Sum("attempts"), last_at=Max("last_at"), last_recipient=Max("last_recipient"))
        .order_by("-attempts", "client_address")[:limit]
    )


def service_status(now: datetime) -> dict:
    from django.conf import settings

    state = SendingState.objects.filter(pk=1).first()
    seen = state.service_seen_at if state else None
    late = timedelta(seconds=settings.MAIL_SERVICE_HEARTBEAT_INTERVAL * settings.MAIL_SERVICE_MISSED_BEATS)
    return {
        "seen_at": seen,
        "running": seen is not None and now - seen <= late,
        "host": state.service_host if state else "",
        "listen": state.service_listen if state else "",
        "counters": state.service_counters if state else "",
        "last_run": LastRun(
            "Policy service last reported",
            seen,
            timedelta(seconds=settings.MAIL_SERVICE_HEARTBEAT_INTERVAL),
            grace=late - timedelta(seconds=settings.MAIL_SERVICE_HEARTBEAT_INTERVAL),
            hint="Is manage.py mail_policy_server running, and can it reach the database?",
            plain_hint="The sending checks are not running, so we cannot tell whether people send mail within the"
            f" limits. {TELL_IT}",
            now=now,
            since=installed_at("sending"),
        ),
    }


def dashboard(now: datetime | None = None) -> dict:
    now = now or timezone.now()
    since_hour = hour_start(now) - timedelta(hours=1)
    day_ago = now - timedelta(hours=24)
    series = hourly_volume(now)
    return {
        "now": now,
        "people": per_person(now),
        "top_senders": senders_since(since_hour, limit=10),
        "top_since": since_hour,
        "refusal_counts": refusal_counts(day_ago),
        "refusals": list(
            PolicyRefusal.objects.filter(last_at__gte=now - timedelta(days=7)).select_related("user")[:30]
        ),
        "suspended": list(SendingSuspension.objects.open().select_related("user", "suspended_by")),
        "lifted": list(
            SendingSuspension.objects.filter(lifted_at__isnull=False).select_related("user", "lifted_by")[:5]
        ),
        "relay": relay_by_address(now - timedelta(days=7)),
        "chart": volume_chart(series),
        "chart_totals": {
            "messages": sum(p["messages"] for p in series),
            "recipients": sum(p["recipients"] for p in series),
        },
        "service": service_status(now),
        "settings": SendingSettings.load(),
    }


# What the executive summary says, per situation (a suspension alerts IT at once: emails.send_suspended).
SENDING_SUSPENDED = (
    "Mail is at risk: {who} may have been taken over and used to send spam, so their sending is stopped."
    " IT has been alerted and is checking {them}."
)
SENDING_HELD_BACK = (
    "Mail is not at risk: the sending limits held back {refused} message{s} today, as they should. IT can see"
    " who sent them."
)
SENDING_NORMAL = "Mail is not at risk: people are sending mail normally, within the limits."
SENDING_UNCHECKED = (
    "We cannot tell whether people send mail within the limits: the sending checks are not running. IT can see"
    " this on the Sending page."
)


def status_line() -> StatusLine:
    """One plain sentence for the home page and the executive summary."""
    now = timezone.now()
    suspended = list(SendingSuspension.objects.open().select_related("user")[:4])
    if suspended:
        names = ", ".join(s.user.email for s in suspended[:3]) + (" and more" if len(suspended) > 3 else "")
        text = f"Sending suspended for {names}: possibly compromised, waiting for IT."
        one = len(suspended) == 1
        plain = SENDING_SUSPENDED.format(
            who="one person's account" if one else "some people's accounts", them="it" if one else "them"
        )
        return StatusLine(AREA, "critical", text, "sending:dashboard", plain=plain)
    service = service_status(now)
    if not service["running"]:
        # Nothing counts or limits what is sent: "within the limits" would not be true.
        if service["seen_at"] is None:
            text = "The policy service has never reported: the sending limits are not in the mail path yet."
        else:
            since = timezone.localtime(service["seen_at"])
            text = f"The policy service has not answered since {since:%H:%M}: mail flows unchecked."
        return StatusLine(AREA, "unknown", text, "sending:dashboard", plain=SENDING_UNCHECKED)
    today, _ = day_and_week_start(now)
    totals = SendingHour.objects.filter(hour__gte=today).aggregate(messages=Sum("messages"), deferred=Sum("deferred"))
    refused = PolicyRefusal.objects.filter(last_at__gte=today).aggregate(total=Sum("count"))["total"] or 0
    messages = totals["messages"] or 0
    if refused:
        text = f"{messages} messages sent today; {refused} deferred or refused by the sending limits and rules."
        plain = SENDING_HELD_BACK.format(refused=refused, s="" if refused == 1 else "s")
        return StatusLine(AREA, "warning", text, "sending:dashboard", plain=plain)
    text = f"Normal: {messages} messages sent today, within the limits."
    return StatusLine(AREA, "ok", text, "sending:dashboard", plain=SENDING_NORMAL)


# --- a person: the sections of their user page, and the Sending page about them ---------------------------


def limits_for(user) -> dict:
    """The person's effective limits and where each comes from (organisation, role, person)."""
    org = SendingSettings.load()
    role = LimitOverride.objects.filter(role=user.role).first()
    own = LimitOverride.objects.filter(user=user).first()
    effective = {}
    for name in ("recipients_per_hour", "recipients_per_day", "messages_per_minute"):
        for source, row in (("person", own), ("role", role), ("organisation", org)):
            value = getattr(row, name, None) if row is not None else None
            if value:
                effective[name] = (value, source)
                break
    return effective


def person(user, now: datetime | None = None) -> dict:
    from monitoring.sending.emails import CHECKLIST

    now = now or timezone.now()
    today, week = day_and_week_start(now)
    hours = SendingHour.objects.filter(user=user)
    totals = {
        "today": hours.filter(hour__gte=today).aggregate(**{name: Sum(name) for name in TOTALS}),
        "week": hours.filter(hour__gte=week).aggregate(**{name: Sum(name) for name in TOTALS}),
    }
    return {
        "person": user,
        "suspension": SendingSuspension.objects.open().filter(user=user).first(),
        "suspensions": list(
            SendingSuspension.objects.filter(user=user).select_related("lifted_by", "suspended_by")[:10]
        ),
        "limits": limits_for(user),
        "override": LimitOverride.objects.filter(user=user).first(),
        "aliases": list(user.sender_aliases.all()),
        "shared": list(user.shared_mailboxes.all()),
        "profile": SenderProfile.objects.filter(user=user).first(),
        "totals": totals,
        "recent_hours": list(hours.order_by("-hour")[:24]),
        "refusals": list(PolicyRefusal.objects.filter(user=user)[:20]),
        "checklist": CHECKLIST,
    }


def user_section(user) -> list[Section]:
    """For accounts' user page: the "possibly compromised" banner when suspended, and a sending card."""
    from monitoring.sending.emails import CHECKLIST

    suspension = SendingSuspension.objects.open().filter(user=user).first()
    sections = []
    if suspension is not None:
        context = {"person": user, "suspension": suspension, "checklist": CHECKLIST}
        sections.append(Section("sending/_compromised_banner.html", context, place="top"))
    sections.append(Section("sending/_user_card.html", {"person": user, "limits": limits_for(user)}))
    return sections
