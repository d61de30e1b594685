"""Forms of the load and drift pages: settings, thresholds, approving a baseline."""

from __future__ import annotations

import shlex

from django import forms

from monitoring.serverload.models import LoadSettings, LoadThreshold


class LoadSettingsForm(forms.ModelForm):
    class Meta:
        model = LoadSettings
        fields = [
            "sample_interval_seconds",
            "line_download_mbps",
            "line_upload_mbps",
            "line_interfaces",
            "watched_mounts",
            "queue_command",
            "watched_files",
            "drift_check_interval_hours",
        ]
        labels = {
            "sample_interval_seconds": "Sample every (seconds)",
            "line_download_mbps": "Line download capacity (Mbit/s)",
            "line_upload_mbps": "Line upload capacity (Mbit/s)",
            "line_interfaces": "Interfaces on the line",
            "watched_mounts": "Watched folders (disk space)",
            "queue_command": "Mail queue command",
            "watched_files": "Watched configuration files",
            "drift_check_interval_hours": "Check configuration every (hours)",
        }
        widgets = {
            "watched_mounts": forms.Textarea(attrs={"rows": 3}),
            "watched_files": forms.Textarea(attrs={"rows": 7}),
        }

    def clean_sample_interval_seconds(self) -> int:
        value = self.cleaned_data["sample_interval_seconds"]
        if not 30 <= value <= 3600:
            raise forms.ValidationError("Choose between 30 and 3600 seconds.")
        return value

    def clean_drift_check_interval_hours(self) -> int:
        value = self.cleaned_data["drift_check_interval_hours"]
        if not 1 <= value <= 168:
            raise forms.ValidationError("Choose between 1 and 168 hours (a week).")
        return value

    def _clean_capacity(self, name: str) -> float | None:
        value = self.cleaned_data[name]
        if value is not None and not 0.1 <= value <= 100_000:
            raise forms.ValidationError("Give the capacity in Mbit/s, between 0.1 and 100000.")
        return value

    def clean_line_download_mbps(self) -> float | None:
        return self._clean_capacity("line_download_mbps")

    def clean_line_upload_mbps(self) -> float | None:
        return self._clean_capacity("line_upload_mbps")

    def clean_watched_mounts(self) -> str:
        lines = [line.strip() for line in self.cleaned_data["watched_mounts"].splitlines() if line.strip()]
        relative = [line for line in lines if not line.startswith("/")]
        if relative:
            raise forms.ValidationError(f"Use absolute paths (starting with /): {', '.join(relative)}")
        if not lines:
            raise forms.ValidationError("Watch at least one folder, e.g. /")
        return "\n".join(lines)

    def clean_watched_files(self) -> str:
        lines = [line.strip() for line in self.cleaned_data["watched_files"].splitlines() if line.strip()]
        relative = [line for line in lines if not line.startswith("/")]
        if relative:
            raise forms.ValidationError(f"Use absolute paths (starting with /): {', '.join(relative)}")
        if len(lines) > 200:
            raise forms.ValidationError("Watch at most 200 files or patterns.")
        return "\n".join(lines)

    def clean_queue_command(self) -> str:
        value = self.cleaned_data["queue_command"].strip()
        try:
            shlex.split(value)
        except ValueError as exc:
            raise forms.ValidationError(f"The command cannot be read: {exc}.") from None
        return value


class ThresholdForm(forms.ModelForm):
    class Meta:
        model = LoadThreshold
        fields = ["enabled", "warning", "critical", "clear", "duration_minutes"]
        widgets = {name: forms.NumberInput(attrs={"step": "any"}) for name in ("warning", "critical", "clear")}

    def clean(self) -> dict:
        data = super().clean()
        warning, critical, clear = data.get("warning"), data.get("critical"), data.get("clear")
        if None in (warning, critical, clear):
            return data
        if not clear < warning <= critical:
            raise forms.ValidationError("The marks must be in order: clear below warning, warning at most critical.")
        if self.instance.metric != "queue" and critical > 100:
            raise forms.ValidationError("A percentage mark cannot be above 100.")
        if min(warning, critical, clear) < 0:
            raise forms.ValidationError("Marks cannot be negative.")
        duration = data.get("duration_minutes")
        if duration is not None and not 1 <= duration <= 1440:
            self.add_error("duration_minutes", "Choose between 1 and 1440 minutes.")
        return data


ThresholdFormSet = forms.modelformset_factory(LoadThreshold, form=ThresholdForm, extra=0, edit_only=True)


class ApproveBaselineForm(forms.Form):
    note = forms.CharField(
        label="Why is this the new approved state?",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="E.g. “Debian security update 2026-03-02 changed smtpd_tls_protocols.” Kept in the audit log.",
    )

    def clean_note(self) -> str:
        note = self.cleaned_data["note"].strip()
        if len(note) < 5:
            raise forms.ValidationError("Write a short reason (at least 5 characters).")
        return note
