"""The executive summary: acknowledgement rates, OTP coverage, reviews, campaigns, attestations and monitoring.

``build()`` runs a fixed number of queries whatever the number of users, policies or acknowledgements
(tests/policies/test_summary.py asserts it at two sizes): it loads the active users, the published policies
and the acknowledgements that count for their current versions once, and does the arithmetic in Python.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import models
from django.db.models import Count, F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import OrganisationSettings, User
from policies.models import (
    REVIEW_WINDOW_DAYS,
    Acknowledgement,
    AttestationAnswer,
    Campaign,
    CampaignRun,
    Delivery,
    Policy,
    Procedure,
    organisation_zone,
)
from portal.spreadsheets import safe_cell

ACTIVITY_DAYS = 90
TREND_WEEKS = 12
# A figure this many percentage points or less below its target is amber ("close"), further below red.
AMBER_MARGIN = 10
# A review or procedure this many days past its date makes the "past their date" figure red.
LONG_OVERDUE_DAYS = 30
DEFAULT_TARGET = 95
REVIEWS_LATE = "Reviews and procedures past their date"

# Each state in words as well as in colour (the status classes of portal.css: ok green, warning amber,
# critical red, unknown grey).
TARGET_WORDS = {
    "ok": "On target",
    "warning": "Close to target",
    "critical": "Below target",
    "unknown": "No figures yet",
}
MAIL_WORDS = {
    "ok": "Mail not at risk",
    "warning": "Being watched",
    "critical": "Mail at risk",
    "unknown": "Cannot tell",
}
NO_FIGURE = "\N{EN DASH}"


def percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def target_state(value: float | None, target: int) -> str:
    """ok at or above the target, warning up to AMBER_MARGIN points below it, critical further below."""
    if value is None:
        return "unknown"
    if value >= target:
        return "ok"
    return "warning" if value >= target - AMBER_MARGIN else "critical"


@dataclass
class Headline:
    """One figure at the top of the summary: its value, its target and whether it meets it, in words."""

    title: str
    value: str  # "92.5 %", "3"
    explanation: str  # what the figure counts
    state: str  # ok | warning | critical | unknown
    words: str  # the state in words ("On target")
    target: str = ""  # "Target 95 %" ("" when the figure has none)
    number: float | None = None  # the figure as a number, for the change since last month


@dataclass
class Rate:
    label: str
    required: int = 0
    acknowledged: int = 0
    policy: Policy | None = None
    target: int = DEFAULT_TARGET
    people: list[str] = field(default_factory=list)  # who has something outstanding, by name

    @property
    def percent(self) -> float:
        return percent(self.acknowledged, self.required)

    @property
    def outstanding(self) -> int:
        return self.required - self.acknowledged

    @property
    def status(self) -> str:
        return target_state(self.percent if self.required else None, self.target)

    @property
    def status_words(self) -> str:
        return TARGET_WORDS[self.status]


@dataclass
class Outstanding:
    name: str
    email: str
    department: str
    policies: list[str]


@dataclass
class CampaignActivity:
    name: str
    kind: str
    runs: int = 0
    sent: int = 0
    pending: int = 0
    failed: int = 0
    uncertain: int = 0  # handed to the server by a worker that died before its answer: may not have arrived


@dataclass
class AttestationResult:
    campaign: str
    statement: str
    yes: int = 0
    no: int = 0

    @property
    def percent_yes(self) -> float:
        return percent(self.yes, self.yes + self.no)


@dataclass
class Summary:
    today: dt.date
    generated_at: dt.datetime
    overall: Rate
    policy_rates: list[Rate]
    department_rates: list[Rate]
    outstanding: list[Outstanding]
    otp: dict | None
    overdue_reviews: list[Policy]
    due_reviews: list[Policy]
    overdue_procedures: list[Procedure]
    campaigns: list[CampaignActivity]
    attestations: list[AttestationResult]
    trend: list[tuple[dt.date, float]]
    status_lines: list = field(default_factory=list)
    headlines: list[Headline] = field(default_factory=list)


def _otp_coverage() -> dict | None:
    try:
        from accounts.coverage import otp_coverage
    except ImportError:
        return None
    return otp_coverage()


def _status_lines() -> list[dict]:
    """One line per monitoring area, with a link when the area names a page."""
    try:
        from monitoring.status import status_lines
    except ImportError:
        return []
    lines = []
    for line in status_lines():
        try:
            url = reverse(line.url_name) if line.url_name else ""
        except NoReverseMatch:
            url = ""
        lines.append(
            {
                "area": line.area,
                "status": line.status,
                "words": MAIL_WORDS.get(line.status, line.status),
                "sentence": line.sentence,
                "text": line.text,
                "url": url,
            }
        )
    return lines


def build(now: dt.datetime | None = None) -> Summary:
    now = now or timezone.now()
    zone = organisation_zone()
    today = timezone.localdate(now, timezone=zone)
    users = list(
        User.objects.filter(is_active=True)
        .order_by("last_name", "first_name", "email")
        .values_list("pk", "email", "first_name", "last_name", "role", "department_id", "department__name")
    )
    policies = list(
        Policy.objects.filter(state=Policy.State.PUBLISHED)
        .select_related("current_version", "owner")
        .prefetch_related("audience_departments")
        .order_by("title")
    )
    current = Acknowledgement.objects.filter(
        policy__state=Policy.State.PUBLISHED, version_number__gte=F("policy__acknowledge_from_version")
    )
    acknowledged_by: dict[int, set[int]] = defaultdict(set)
    for policy_id, user_id in current.values_list("policy_id", "user_id"):
        acknowledged_by[policy_id].add(user_id)
    # People grouped by what audiences select on, so each policy looks at a dozen groups, not every person.
    groups: dict[tuple[str, int | None], set[int]] = defaultdict(set)
    department_names: dict[int | None, str] = {}
    for pk, _email, _first, _last, role, department_id, department_name in users:
        groups[(role, department_id)].add(pk)
        department_names[department_id] = department_name or "No department"

    targets = OrganisationSettings.load()
    target = targets.acknowledged_target
    names = {pk: f"{first} {last}".strip() or email for pk, email, first, last, *_ in users}
    overall = Rate("All policies", target=target)
    departments: dict[str, Rate] = {}
    department_people: dict[str, set[int]] = defaultdict(set)
    missing: dict[int, list[str]] = defaultdict(list)
    policy_rates = []
    for policy in policies:
        roles = set(policy.audience_roles)
        department_ids = {d.pk for d in policy.audience_departments.all()}
        acknowledged = acknowledged_by.get(policy.pk, set())
        rate = Rate(policy.title, policy=policy, target=target)
        not_yet: set[int] = set()
        for (role, department_id), members in groups.items():
            if (roles and role not in roles) or (department_ids and department_id not in department_ids):
                continue
            label = department_names[department_id]
            bucket = departments.setdefault(label, Rate(label, target=target))
            done = len(members & acknowledged)
            rate.required += len(members)
            rate.acknowledged += done
            bucket.required += len(members)
            bucket.acknowledged += done
            not_yet |= members - acknowledged
            department_people[label] |= members - acknowledged
        for pk in not_yet:
            missing[pk].append(policy.title)
        rate.people = sorted((names[pk] for pk in not_yet), key=str.lower)
        overall.required += rate.required
        overall.acknowledged += rate.acknowledged
        policy_rates.append(rate)
    for label, bucket in departments.items():
        bucket.people = sorted((names[pk] for pk in department_people[label]), key=str.lower)

    outstanding = [
        Outstanding(names[pk], email, department or "—", missing[pk])
        for pk, email, _first, _last, _role, _dept_id, department in users
        if missing.get(pk)
    ]
    outstanding.sort(key=lambda row: (-len(row.policies), row.name.lower()))
    horizon = today + dt.timedelta(days=REVIEW_WINDOW_DAYS)
    otp = _otp_coverage()
    overdue_reviews = [p for p in policies if p.review_due_on and p.review_due_on < today]
    overdue_procedures = list(
        Procedure.objects.filter(active=True, next_due_on__lt=today).select_related("owner").order_by("next_due_on")
    )

    return Summary(
        today=today,
        generated_at=now,
        overall=overall,
        policy_rates=policy_rates,
        department_rates=sorted(departments.values(), key=lambda rate: rate.label),
        outstanding=outstanding,
        otp=otp,
        overdue_reviews=overdue_reviews,
        due_reviews=[p for p in policies if p.review_due_on and today <= p.review_due_on <= horizon],
        overdue_procedures=overdue_procedures,
        campaigns=campaign_activity(now),
        attestations=attestation_summary(now),
        trend=trend(current, overall, today, zone),
        status_lines=_status_lines(),
        headlines=headlines(overall, otp, targets, overdue_reviews, overdue_procedures, today),
    )


def headlines(
    overall: Rate,
    otp: dict | None,
    targets: OrganisationSettings,
    overdue_reviews: list[Policy],
    overdue_procedures: list[Procedure],
    today: dt.date,
) -> list[Headline]:
    """The three figures an executive reads first, each with its target and its state in words."""
    acknowledged = overall.percent if overall.required else None
    rows = [
        Headline(
            "Policies acknowledged",
            f"{overall.percent} %" if overall.required else NO_FIGURE,
            f"{overall.acknowledged} of {overall.required} acknowledgements of the current policy versions."
            if overall.required
            else "No published policy asks anyone to acknowledge it yet.",
            target_state(acknowledged, targets.acknowledged_target),
            "",
            f"Target {targets.acknowledged_target} %",
            acknowledged,
        )
    ]
    if otp is not None:
        enrolled = otp["percent"] if otp["total"] else None
        rows.append(
            Headline(
                "People with one-time passwords",
                f"{otp['percent']} %" if otp["total"] else NO_FIGURE,
                f"{otp['enrolled']} of {otp['total']} people have a token; {otp['pending']} still to enrol"
                + (f", {otp['overdue']} past their deadline." if otp.get("overdue") else "."),
                target_state(enrolled, targets.enrolled_target),
                "",
                f"Target {targets.enrolled_target} %",
                enrolled,
            )
        )
    late = [p.review_due_on for p in overdue_reviews] + [p.next_due_on for p in overdue_procedures]
    count = len(late)
    long_late = [day for day in late if (today - day).days > LONG_OVERDUE_DAYS]
    state = "ok" if not count else "critical" if long_late else "warning"
    words = {
        "ok": "Nothing past its date",
        "warning": "Catching up",
        "critical": f"{len(long_late)} more than a month late",
    }[state]
    rows.append(
        Headline(
            REVIEWS_LATE,
            str(count),
            f"{len(overdue_reviews)} policy review{'s' if len(overdue_reviews) != 1 else ''} and "
            f"{len(overdue_procedures)} maintenance procedure{'s' if len(overdue_procedures) != 1 else ''} not "
            "done by the date they were due.",
            state,
            words,
            "Target 0",
            float(count),
        )
    )
    for row in rows:
        row.words = row.words or TARGET_WORDS[row.state]
    return rows


def campaign_activity(now: dt.datetime) -> list[CampaignActivity]:
    since = now - dt.timedelta(days=ACTIVITY_DAYS)
    rows: dict[int, CampaignActivity] = {}
    for campaign_id, name, kind, runs in (
        CampaignRun.objects.filter(occurrence__gte=since)
        .values_list("campaign_id", "campaign__name", "campaign__kind")
        .annotate(n=Count("pk"))
        .order_by("campaign__name")
    ):
        rows[campaign_id] = CampaignActivity(name, Campaign.Kind(kind).label, runs=runs)
    for campaign_id, status, n in (
        Delivery.objects.filter(occurrence__gte=since)
        .values_list("campaign_id", "status")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        activity = rows.get(campaign_id)
        if activity is None:
            continue
        if status == Delivery.Status.SENT:
            activity.sent += n
        elif status == Delivery.Status.FAILED:
            activity.failed += n
        elif status == Delivery.Status.UNCERTAIN:
            activity.uncertain += n
        else:
            activity.pending += n
    return list(rows.values())


def attestation_summary(now: dt.datetime, campaign: Campaign | None = None) -> list[AttestationResult]:
    answers = AttestationAnswer.objects.all()
    if campaign is not None:
        answers = answers.filter(statement__campaign=campaign)
    else:
        answers = answers.filter(response__submitted_at__gte=now - dt.timedelta(days=ACTIVITY_DAYS))
    results: dict[int, AttestationResult] = {}
    for statement_id, campaign_name, text, answer, n in (
        answers.values_list("statement_id", "statement__campaign__name", "statement__text", "answer")
        .annotate(n=Count("pk"))
        .order_by("statement__campaign__name", "statement__position", "statement_id")
    ):
        result = results.setdefault(statement_id, AttestationResult(campaign_name, text))
        if answer:
            result.yes += n
        else:
            result.no += n
    return list(results.values())


def attestation_results(campaign: Campaign) -> list[AttestationResult]:
    return attestation_summary(timezone.now(), campaign=campaign)


def trend(current: models.QuerySet, overall: Rate, today: dt.date, zone) -> list[tuple[dt.date, float]]:
    """Share of today's required acknowledgements already given at the end of each of the last weeks.

    One query with a conditional count per week. It counts acknowledgements of the current versions, so
    one from someone who has since left a policy's audience still counts in earlier weeks; today's point
    is the exact overall rate.
    """
    ends = [today - dt.timedelta(weeks=week) for week in range(TREND_WEEKS - 1, 0, -1)]
    cutoffs = {
        f"w{i}": Count(
            "pk", filter=Q(acknowledged_at__lt=dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone))
        )
        for i, end in enumerate(ends)
    }
    counts = current.aggregate(**cutoffs) if cutoffs else {}
    points = [(end, min(percent(counts[f"w{i}"], overall.required), 100.0)) for i, end in enumerate(ends)]
    return [*points, (today, overall.percent)]


def trend_chart(points: list[tuple[dt.date, float]], width: int = 640, height: int = 180) -> dict:
    """Coordinates for the inline SVG line chart (templates/policies/_trend_chart.html); no JavaScript."""
    left, right, top, bottom = 44, 28, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(points) - 1, 1)

    def y(value: float) -> float:
        return round(top + plot_h * (1 - value / 100), 1)

    coords = [(round(left + i * step, 1), y(value), day, value) for i, (day, value) in enumerate(points)]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "bottom": top + plot_h,
        "grid": [{"y": y(v), "label": f"{v}%"} for v in (0, 25, 50, 75, 100)],
        "points": " ".join(f"{x},{py}" for x, py, _, _ in coords),
        "dots": [{"x": x, "y": py, "day": day, "value": value} for x, py, day, value in coords],
        "labels": [{"x": x, "day": day} for i, (x, _, day, _) in enumerate(coords) if (len(coords) - 1 - i) % 3 == 0],
        "label_y": height - 6,
    }


def write_csv(summary: Summary, out) -> None:
    writer = csv.writer(out)

    def row(*cells: object) -> None:
        writer.writerow([safe_cell(c) for c in cells])

    row("Security summary", summary.today.isoformat())
    row()
    row("Headline", "value", "target", "state")
    for headline in summary.headlines:
        row(headline.title, headline.value, headline.target, headline.words)
    row()
    row("Policy acknowledgement (current version)", "required", "acknowledged", "percent")
    for rate in [*summary.policy_rates, summary.overall]:
        row(rate.label, rate.required, rate.acknowledged, rate.percent)
    row()
    row("Department", "required", "acknowledged", "percent")
    for rate in summary.department_rates:
        row(rate.label, rate.required, rate.acknowledged, rate.percent)
    row()
    row("Outstanding person", "email", "department", "policies not acknowledged")
    for person in summary.outstanding:
        row(person.name, person.email, person.department, "; ".join(person.policies))
    if summary.otp is not None:
        row()
        row("OTP coverage", "total", "enrolled", "pending", "percent")
        row(
            "Active users",
            summary.otp["total"],
            summary.otp["enrolled"],
            summary.otp["pending"],
            summary.otp["percent"],
        )
    row()
    row("Overdue policy review", "owner", "due")
    for policy in summary.overdue_reviews:
        row(policy.title, policy.owner.email if policy.owner else "", policy.review_due_on.isoformat())
    row()
    row("Overdue procedure", "owner", "due")
    for procedure in summary.overdue_procedures:
        row(procedure.title, procedure.owner.email if procedure.owner else "", procedure.next_due_on.isoformat())
    row()
    row(f"Campaign (last {ACTIVITY_DAYS} days)", "kind", "runs", "sent", "pending", "failed", "delivery uncertain")
    for activity in summary.campaigns:
        counts = (activity.runs, activity.sent, activity.pending, activity.failed, activity.uncertain)
        row(activity.name, activity.kind, *counts)
    row()
    row("Attestation", "statement", "yes", "no", "percent yes")
    for result in summary.attestations:
        row(result.campaign, result.statement, result.yes, result.no, result.percent_yes)
    row()
    row("Week ending", "acknowledged percent")
    for day, value in summary.trend:
        row(day.isoformat(), value)
    if summary.status_lines:
        row()
        row("Monitoring area", "status", "text")
        for line in summary.status_lines:
            row(line["area"], line["status"], line["text"])
