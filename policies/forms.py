from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from accounts.models import Department, OrganisationSettings, User
from accounts.roles import Role
from policies.models import Campaign, Policy, Procedure, organisation_zone
from policies.schedules import Repeat
from portal.dates import DayField, WallClockField


class AudienceFields(forms.Form):
    audience_roles = forms.MultipleChoiceField(
        choices=Role.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Roles",
        help_text="Leave roles and departments empty for everyone. When both are chosen, a person must match both.",
    )
    audience_departments = forms.ModelMultipleChoiceField(
        queryset=Department.objects.all(), required=False, widget=forms.CheckboxSelectMultiple, label="Departments"
    )


def it_staff_choices() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=User.objects.filter(role=Role.IT_STAFF, is_active=True), required=False, label="Owner"
    )


class PolicyForm(forms.ModelForm):
    audience_roles = AudienceFields.base_fields["audience_roles"]
    audience_departments = AudienceFields.base_fields["audience_departments"]

    class Meta:
        model = Policy
        fields = [
            "title",
            "category",
            "summary",
            "body",
            "owner",
            "review_interval_days",
            "audience_roles",
            "audience_departments",
        ]
        widgets = {"summary": forms.Textarea(attrs={"rows": 3}), "body": forms.Textarea(attrs={"rows": 18})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"] = it_staff_choices()
        self.fields["review_interval_days"].min_value = 1
        self.fields["review_interval_days"].help_text = "Days between reviews (365 = once a year)."
        if self.instance.pk:
            self.fields["owner"].initial = self.instance.owner_id

    def clean_review_interval_days(self) -> int:
        days = self.cleaned_data["review_interval_days"]
        if not 1 <= days <= 3650:
            raise forms.ValidationError("Choose between 1 and 3650 days.")
        return days

    def save(self, commit: bool = True) -> Policy:
        # Title/summary/body changes of a published policy become a draft (Policy.edit), not a new version.
        policy = self.instance
        original = Policy.objects.filter(pk=policy.pk).first() if policy.pk else None
        policy = super().save(commit=False)
        if original is not None:
            new = (policy.title, policy.summary, policy.body)
            policy.title, policy.summary, policy.body = original.title, original.summary, original.body
            policy.edit(title=new[0], summary=new[1], body=new[2])
        if commit:
            policy.save()
            self.save_m2m()
        return policy


class PublishForm(forms.Form):
    note = forms.CharField(max_length=300, required=False, label="What changed")
    require_acknowledgement = forms.BooleanField(
        required=False,
        initial=True,
        label="Everyone must acknowledge this version again",
        help_text="Untick for corrections that do not change what people must do.",
    )


class CampaignForm(forms.ModelForm):
    audience_roles = AudienceFields.base_fields["audience_roles"]
    audience_departments = AudienceFields.base_fields["audience_departments"]
    starts_at = WallClockField(label="First sending")
    statements = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Attestation statements",
        help_text="One per line; each is answered yes or no. Only for attestation campaigns.",
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "kind",
            "subject",
            "message",
            "policy",
            "only_unacknowledged",
            "escalate_after",
            "audience_roles",
            "audience_departments",
            "repeat",
            "interval",
            "starts_at",
            "active",
        ]
        widgets = {"message": forms.Textarea(attrs={"rows": 8})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.zone = organisation_zone()
        self.fields["policy"].queryset = Policy.objects.filter(state=Policy.State.PUBLISHED)
        self.fields["starts_at"].help_text = f"In the organisation's time zone ({self.zone.key})."
        self.fields["interval"].required = False
        if self.instance.pk:
            self.initial["starts_at"] = self.instance.starts_at.astimezone(self.zone).replace(tzinfo=None)
            self.initial["statements"] = "\n".join(s.text for s in self.instance.statements.all())

    def clean_starts_at(self) -> dt.datetime:
        value = self.cleaned_data["starts_at"]
        # The browser sends a wall-clock time: it is in the organisation's zone, whatever Django's current zone.
        naive = timezone.make_naive(value) if timezone.is_aware(value) else value
        return naive.replace(tzinfo=self.zone)

    def clean_interval(self) -> int:
        interval = self.cleaned_data.get("interval")
        if self.cleaned_data.get("repeat") in (Repeat.ONCE, Repeat.QUARTERLY):
            return interval or 1  # no interval to choose: the field is hidden and may be empty
        if interval is None:
            raise forms.ValidationError("How many days, weeks or months between sendings?")
        if not 1 <= interval <= 365:
            raise forms.ValidationError("Choose between 1 and 365.")
        return interval

    def clean(self) -> dict:
        data = super().clean()
        if data.get("only_unacknowledged") and not data.get("policy"):
            self.add_error("only_unacknowledged", "Choose the policy whose acknowledgement counts.")
        answerable = data.get("policy") or data.get("kind") == Campaign.Kind.ATTESTATION
        if data.get("escalate_after") and not answerable:
            self.add_error("escalate_after", "Escalation needs a linked policy (or an attestation) to wait for.")
        if data.get("kind") == Campaign.Kind.ATTESTATION and not self.statement_lines():
            self.add_error("statements", "An attestation needs at least one statement.")
        starts_at = data.get("starts_at")
        in_the_past = starts_at is not None and starts_at < timezone.now() - dt.timedelta(minutes=5)
        if data.get("repeat") == Repeat.ONCE and in_the_past and not self.instance.pk:
            self.add_error("starts_at", "A one-off sending must be in the future (or use “send now”).")
        return data

    def statement_lines(self) -> list[str]:
        return [line.strip()[:300] for line in self.cleaned_data.get("statements", "").splitlines() if line.strip()]

    def save(self, commit: bool = True) -> Campaign:
        campaign = super().save(commit=False)
        campaign.reschedule()
        campaign.save()
        self.save_m2m()
        existing = [s.text for s in campaign.statements.all()]
        wanted = self.statement_lines() if campaign.kind == Campaign.Kind.ATTESTATION else []
        if existing != wanted:
            # Answers refer to statements; keep those already answered, add and reorder the rest.
            for statement in campaign.statements.exclude(text__in=wanted):
                if statement.answers.exists():
                    statement.position = 1000
                    statement.save(update_fields=["position"])
                else:
                    statement.delete()
            for position, text in enumerate(wanted):
                statement = campaign.statements.filter(text=text).first()
                if statement:
                    statement.position = position
                    statement.save(update_fields=["position"])
                else:
                    campaign.statements.create(text=text, position=position)
        return campaign


class AttestationForm(forms.Form):
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Anything to add?")

    def __init__(self, *args, statements=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.statements = list(statements)
        for statement in self.statements:
            self.fields[f"statement_{statement.pk}"] = forms.TypedChoiceField(
                label=statement.text,
                choices=[("yes", "Yes"), ("no", "No")],
                coerce=lambda value: value == "yes",
                widget=forms.RadioSelect,
            )
        self.order_fields([f"statement_{s.pk}" for s in self.statements] + ["comment"])

    def answers(self) -> dict[int, bool]:
        return {s.pk: self.cleaned_data[f"statement_{s.pk}"] for s in self.statements}


class ProcedureForm(forms.ModelForm):
    steps = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), help_text="One step per line, in order.", label="Steps"
    )

    class Meta:
        model = Procedure
        fields = ["title", "description", "interval_days", "owner", "next_due_on", "active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}
        field_classes = {"next_due_on": DayField}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"] = it_staff_choices()
        if self.instance.pk:
            self.fields["owner"].initial = self.instance.owner_id
            self.initial["steps"] = "\n".join(s.text for s in self.instance.steps.all())
        else:
            self.initial.setdefault("next_due_on", timezone.localdate(timezone=organisation_zone()))

    def clean_interval_days(self) -> int:
        days = self.cleaned_data["interval_days"]
        if not 1 <= days <= 3650:
            raise forms.ValidationError("Choose between 1 and 3650 days.")
        return days

    def clean_steps(self) -> list[str]:
        lines = [line.strip()[:300] for line in self.cleaned_data["steps"].splitlines() if line.strip()]
        if not lines:
            raise forms.ValidationError("A checklist needs at least one step.")
        return lines

    def save(self, commit: bool = True) -> Procedure:
        procedure = super().save()
        if [s.text for s in procedure.steps.all()] != self.cleaned_data["steps"]:
            # Completions keep their own copy of the steps, so the checklist can be rewritten freely.
            procedure.steps.all().delete()
            for position, text in enumerate(self.cleaned_data["steps"]):
                procedure.steps.create(text=text, position=position)
        return procedure


class CompletionForm(forms.Form):
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, steps=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.steps = list(steps)
        for step in self.steps:
            self.fields[f"step_{step.pk}"] = forms.BooleanField(required=False, label=step.text)
        self.order_fields([f"step_{s.pk}" for s in self.steps] + ["notes"])

    def clean(self) -> dict:
        data = super().clean()
        if self.steps and not any(data.get(f"step_{s.pk}") for s in self.steps) and not data.get("notes"):
            raise forms.ValidationError("Tick the steps you did, or say in the notes why none were done.")
        return data

    def ticked(self) -> set[int]:
        return {s.pk for s in self.steps if self.cleaned_data.get(f"step_{s.pk}")}


class SummaryTargetsForm(forms.ModelForm):
    """The targets of the executive summary's figures (fields of the organisation's settings)."""

    class Meta:
        model = OrganisationSettings
        fields = ["acknowledged_target", "enrolled_target"]
