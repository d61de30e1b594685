"""Security policies and their versions, acknowledgements, awareness campaigns, deliveries and procedures.

Timing lives in these rows (``Campaign.next_run_at``, ``PolicySettings.next_digest_at``): the minute tick in
``policies.dispatch`` claims what is due with a conditional UPDATE, so two beats never do the same work twice.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from policies import schedules
from policies.markdown import render_markdown
from portal.models import OutgoingMessage
from portal.singletons import Singleton


class PolicySettings(Singleton):
    """The organisation's settings for this area (one row, ``load()``, edited in the admin).

    Schedules run in the organisation's time zone, which is the ``TIME_ZONE`` setting (see README).
    """

    send_max_tries = models.PositiveSmallIntegerField(default=5, help_text="SMTP attempts before a mail fails.")
    retry_backoff_seconds = models.PositiveIntegerField(
        default=60, help_text="Wait before the first retry; doubles with every further try."
    )
    digest_weekday = models.PositiveSmallIntegerField(default=0, help_text="0 = Monday: the weekly review digest.")
    digest_hour = models.PositiveSmallIntegerField(default=8)
    next_digest_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "policy settings"
        verbose_name_plural = "policy settings"

    def __str__(self) -> str:
        return "Policy settings"


def organisation_zone() -> ZoneInfo:
    """The organisation's time zone: the TIME_ZONE setting, which schedules and every page use (no query)."""
    return ZoneInfo(settings.TIME_ZONE)


class Audience(models.Model):
    """Who something is for: everyone (nothing chosen), or the chosen roles and/or departments (both must match)."""

    audience_roles = models.JSONField(default=list, blank=True)
    audience_departments = models.ManyToManyField("accounts.Department", blank=True, related_name="+")

    class Meta:
        abstract = True

    def audience_users(self) -> models.QuerySet:
        from accounts.models import User

        users = User.objects.filter(is_active=True)
        if self.audience_roles:
            users = users.filter(role__in=self.audience_roles)
        department_ids = [d.pk for d in self.audience_departments.all()]
        if department_ids:
            users = users.filter(department_id__in=department_ids)
        return users

    def applies_to(self, user) -> bool:
        """In Python, for lists already loaded with ``prefetch_related("audience_departments")``."""
        if self.audience_roles and user.role not in self.audience_roles:
            return False
        department_ids = {d.pk for d in self.audience_departments.all()}
        return not department_ids or user.department_id in department_ids

    def audience_label(self) -> str:
        roles = [Role(r).label for r in self.audience_roles if r in Role.values]
        departments = [d.name for d in self.audience_departments.all()]
        if not roles and not departments:
            return "Everyone"
        parts = []
        if roles:
            parts.append(", ".join(roles))
        if departments:
            parts.append("in " + ", ".join(departments))
        return " ".join(parts)


class Policy(Audience):
    """A security policy. Its own title/summary/body are the working copy; readers see ``current_version``."""

    class Category(models.TextChoices):
        ACCESS = "access", "Remote access and mail"
        ACCOUNTS = "accounts", "Passwords and sign-in"
        DEVICES = "devices", "Laptops and phones"
        INCIDENTS = "incidents", "Incidents"
        GENERAL = "general", "General"

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    title = models.CharField(max_length=200)
    summary = models.TextField(help_text="Two or three sentences for executives.")
    body = models.TextField(help_text="Markdown.")
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.GENERAL)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="owned_policies"
    )
    review_interval_days = models.PositiveIntegerField(default=365)
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    # The working copy differs from the published version (an edit of a published policy).
    has_draft_changes = models.BooleanField(default=False)
    current_version = models.ForeignKey(
        "PolicyVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Acknowledging any version >= this number counts as acknowledging the current version.
    acknowledge_from_version = models.PositiveIntegerField(default=1)
    last_reviewed_on = models.DateField(null=True, blank=True)
    review_due_on = models.DateField(null=True, blank=True, db_index=True)
    library_key = models.CharField(max_length=60, blank=True, help_text="Starter-library text this came from.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("policies:read", args=[self.pk])

    @property
    def is_published(self) -> bool:
        return self.state == self.State.PUBLISHED

    def body_html(self) -> str:
        return render_markdown(self.body)

    def edit(self, *, title: str, summary: str, body: str) -> None:
        """Change the working copy; on a published policy this is a draft until published."""
        changed = (title, summary, body) != (self.title, self.summary, self.body)
        self.title, self.summary, self.body = title, summary, body
        if changed and self.current_version_id:
            self.has_draft_changes = True

    @transaction.atomic
    def publish(self, *, by, require_acknowledgement: bool, note: str = "") -> PolicyVersion:
        """Publish the working copy as the next version."""
        if self.state == self.State.RETIRED:
            raise ValidationError("A retired policy cannot be published again; adopt or copy it instead.")
        last = self.versions.order_by("-number").first()
        number = (last.number + 1) if last else 1
        version = PolicyVersion.objects.create(
            policy=self,
            number=number,
            title=self.title,
            summary=self.summary,
            body=self.body,
            body_html=render_markdown(self.body),
            note=note,
            requires_acknowledgement=require_acknowledgement or last is None,
            published_by=by,
        )
        self.current_version = version
        if version.requires_acknowledgement:
            self.acknowledge_from_version = number
        self.state = self.State.PUBLISHED
        self.has_draft_changes = False
        self.mark_reviewed(save=False)
        self.save()
        return version

    def retire(self) -> None:
        self.state = self.State.RETIRED
        self.save(update_fields=["state", "updated_at"])

    def mark_reviewed(self, *, save: bool = True) -> None:
        today = timezone.localdate(timezone=organisation_zone())
        self.last_reviewed_on = today
        self.review_due_on = today + dt.timedelta(days=self.review_interval_days)
        if save:
            self.save(update_fields=["last_reviewed_on", "review_due_on", "updated_at"])

    def acknowledgement_of(self, user) -> Acknowledgement | None:
        """The user's acknowledgement that counts for the current version, if any."""
        return (
            self.acknowledgements.filter(user=user, version_number__gte=self.acknowledge_from_version)
            .order_by("-version_number")
            .first()
        )

    def acknowledge(self, user, *, ip_address: str | None, user_agent: str) -> Acknowledgement:
        version = self.current_version
        ack, _ = Acknowledgement.objects.get_or_create(
            user=user,
            version=version,
            defaults={
                "policy": self,
                "version_number": version.number,
                "ip_address": ip_address,
                "user_agent": user_agent[:300],
            },
        )
        return ack


class PolicyVersion(models.Model):
    """A published text of a policy; never changed after it is created."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    summary = models.TextField()
    body = models.TextField()
    body_html = models.TextField()
    note = models.CharField(max_length=300, blank=True, help_text="What changed.")
    requires_acknowledgement = models.BooleanField(default=True)
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        ordering = ["policy", "-number"]
        constraints = [models.UniqueConstraint(fields=["policy", "number"], name="policy_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.title} v{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("policies:version", args=[self.policy_id, self.number])


class ImmutableRowError(Exception):
    pass


class Acknowledgement(models.Model):
    """'I have read and understood version N': written once, never edited."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="acknowledgements")
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="acknowledgements")
    version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="acknowledgements")
    version_number = models.PositiveIntegerField()
    acknowledged_at = models.DateTimeField(default=timezone.now, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-acknowledged_at"]
        constraints = [models.UniqueConstraint(fields=["user", "version"], name="acknowledgement_once_per_version")]
        indexes = [models.Index(fields=["policy", "version_number"])]

    def __str__(self) -> str:
        return f"{self.user} acknowledged {self.version}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ImmutableRowError("Acknowledgements cannot be edited")
        super().save(*args, **kwargs)


class Campaign(Audience):
    """An awareness reminder (or an attestation request) sent on a schedule."""

    class Kind(models.TextChoices):
        AWARENESS = "awareness", "Awareness reminder"
        ATTESTATION = "attestation", "Attestation"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.AWARENESS)
    subject = models.CharField(max_length=200)
    message = models.TextField(help_text="Markdown.")
    policy = models.ForeignKey(Policy, on_delete=models.SET_NULL, null=True, blank=True, related_name="campaigns")
    only_unacknowledged = models.BooleanField(
        default=False, help_text="Only people who have not acknowledged the linked policy's current version."
    )
    escalate_after = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="After this many reminders without acknowledgement, copy IT staff."
    )
    repeat = models.CharField(max_length=10, choices=schedules.Repeat.choices, default=schedules.Repeat.ONCE)
    interval = models.PositiveSmallIntegerField(default=1, help_text="Every N days, weeks or months.")
    starts_at = models.DateTimeField(help_text="First sending, in the organisation's time zone.")
    active = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("policies:campaign", args=[self.pk])

    @property
    def schedule(self) -> schedules.Schedule:
        return schedules.Schedule(self.repeat, self.interval, self.starts_at, organisation_zone())

    def reschedule(self, now: dt.datetime | None = None) -> None:
        """Set ``next_run_at`` to the first occurrence from now on (None when the schedule is over)."""
        now = now or timezone.now()
        if not self.active:
            self.next_run_at = None
            return
        after = max(now - dt.timedelta(microseconds=1), self.last_run_at or self.starts_at - dt.timedelta(seconds=1))
        self.next_run_at = self.schedule.next_after(after)

    def message_html(self) -> str:
        return render_markdown(self.message)

    def recipients(self) -> models.QuerySet:
        users = self.audience_users()
        policy = self.policy
        if self.only_unacknowledged and policy is not None and policy.current_version_id:
            acknowledged = Acknowledgement.objects.filter(
                policy=policy, version_number__gte=policy.acknowledge_from_version
            ).values("user_id")
            users = users.exclude(pk__in=acknowledged)
        return users


class AttestationStatement(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="statements")
    text = models.CharField(max_length=300)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["campaign", "position", "pk"]

    def __str__(self) -> str:
        return self.text


class CampaignRun(models.Model):
    """One occurrence of a campaign, claimed by the tick (or "send now"); fanned out into deliveries."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    occurrence = models.DateTimeField()
    manual = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    recipient_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-occurrence"]
        constraints = [models.UniqueConstraint(fields=["campaign", "occurrence"], name="campaign_run_once")]

    def __str__(self) -> str:
        return f"{self.campaign} at {self.occurrence:%Y-%m-%d %H:%M}"


class Delivery(OutgoingMessage):
    """One campaign email to one person for one occurrence."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries")
    run = models.ForeignKey(CampaignRun, on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deliveries")
    occurrence = models.DateTimeField()
    escalated = models.BooleanField(default=False, help_text="IT staff are copied.")

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "recipient", "occurrence"], name="delivery_once"),
        ]
        indexes = [models.Index(fields=["status", "queued_at"]), models.Index(fields=["campaign", "status"])]

    def __str__(self) -> str:
        return f"{self.campaign} → {self.recipient_id} ({self.status})"


class AttestationResponse(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="responses")
    run = models.ForeignKey(CampaignRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attestations")
    submitted_at = models.DateTimeField(default=timezone.now)
    comment = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [models.UniqueConstraint(fields=["campaign", "user", "run"], name="attestation_once_per_run")]

    def __str__(self) -> str:
        return f"{self.user} on {self.campaign}"


class AttestationAnswer(models.Model):
    response = models.ForeignKey(AttestationResponse, on_delete=models.CASCADE, related_name="answers")
    statement = models.ForeignKey(AttestationStatement, on_delete=models.CASCADE, related_name="answers")
    answer = models.BooleanField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["response", "statement"], name="attestation_answer_once")]

    def __str__(self) -> str:
        return f"{self.statement}: {'yes' if self.answer else 'no'}"


class Procedure(models.Model):
    """A maintenance checklist repeated every ``interval_days``."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Why and how; Markdown.")
    interval_days = models.PositiveIntegerField(default=30)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="procedures"
    )
    next_due_on = models.DateField(db_index=True)
    library_key = models.CharField(max_length=60, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["next_due_on", "title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("policies:procedure", args=[self.pk])

    def description_html(self) -> str:
        return render_markdown(self.description)

    @transaction.atomic
    def complete(self, *, by, ticked: set[int], notes: str) -> ProcedureCompletion:
        """Record a completion with each step's tick; the next due date follows from today."""
        steps = [{"text": s.text, "done": s.pk in ticked} for s in self.steps.all()]
        completion = ProcedureCompletion.objects.create(procedure=self, completed_by=by, steps=steps, notes=notes)
        today = timezone.localdate(completion.completed_at, timezone=organisation_zone())
        self.next_due_on = today + dt.timedelta(days=self.interval_days)
        self.save(update_fields=["next_due_on"])
        return completion


class ProcedureStep(models.Model):
    procedure = models.ForeignKey(Procedure, on_delete=models.CASCADE, related_name="steps")
    text = models.CharField(max_length=300)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["procedure", "position", "pk"]

    def __str__(self) -> str:
        return self.text


class ProcedureCompletion(models.Model):
    procedure = models.ForeignKey(Procedure, on_delete=models.CASCADE, related_name="completions")
    completed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    completed_at = models.DateTimeField(default=timezone.now)
    # Each step as it read when completed, with its tick: [{"text": ..., "done": true}, ...]
    steps = models.JSONField(default=list)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-completed_at"]

    def __str__(self) -> str:
        return f"{self.procedure} completed {self.completed_at:%Y-%m-%d}"

    @property
    def all_done(self) -> bool:
        return all(step["done"] for step in self.steps)


# A review counts as due this many days before its date (and overdue after it). The review list, the weekly
# digest, the home page and the executive summary all use this one window.
REVIEW_WINDOW_DAYS = 30


def due_for_review(today: dt.date) -> tuple[models.QuerySet[Policy], models.QuerySet[Procedure]]:
    """Published policies and active procedures due within the review window or overdue, soonest first."""
    horizon = today + dt.timedelta(days=REVIEW_WINDOW_DAYS)
    policies = Policy.objects.filter(state=Policy.State.PUBLISHED, review_due_on__lte=horizon).select_related("owner")
    procedures = Procedure.objects.filter(active=True, next_due_on__lte=horizon).select_related("owner")
    return policies.order_by("review_due_on"), procedures.order_by("next_due_on")


# --- The monthly summary email to executives (policies/monthly.py) -----------------------------------------


class MonthlySummary(models.Model):
    """The executive summary's headline figures when a month's email first went out.

    The email's "change since last month" compares this month's row with the previous month's, so it
    reads the same whichever executive it goes to and whenever in the month it is sent.
    """

    month = models.DateField(unique=True)  # the first day of the month
    taken_at = models.DateTimeField(default=timezone.now)
    figures = models.JSONField(default=dict)  # {"Policies acknowledged": 92.5, ...}; None: no figure

    class Meta:
        ordering = ["-month"]
        verbose_name_plural = "monthly summaries"

    def __str__(self) -> str:
        return f"Summary of {self.month:%B %Y}"


class SummaryMailing(models.Model):
    """One person's monthly summary email for one month: made once (unique), claimed once by the tick
    (``claimed_at`` set by a conditional update), so two ticks or a retried one never send it twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="summary_mailings")
    month = models.DateField()
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-month", "user_id"]
        constraints = [models.UniqueConstraint(fields=["user", "month"], name="summary_mailing_one_per_month")]

    def __str__(self) -> str:
        return f"{self.user} {self.month:%Y-%m}"


class SummaryEmailOptOut(models.Model):
    """This person does not want the monthly summary email (from its unsubscribe link or the summary page)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="summary_opt_out")
    opted_out_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} opted out"
