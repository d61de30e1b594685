"""Forms of the load and drift pages: settings, thresholds, approving a baseline."""

from __future__ import annotations

import os

from django import forms
from django.conf import settings

from monitoring.serverload.mailqueue import QUEUE_PROGRAMS
from monitoring.serverload.models import DriftFinding, LoadSettings, LoadThreshold
from monitoring.serverload.watchlist import expand_pattern, forbidden_reason, is_glob


class LoadSettingsForm(forms.ModelForm):
    class Meta:
        model = LoadSettings
        fields = [
            "sample_interval_seconds",
            "line_download_mbps",
            "line_upload_mbps",
            "line_interfaces",
            "watched_mounts",
            "mail_system",
            "mail_binary",
            "watched_files",
            "checksum_files",
            "drift_check_interval_hours",
        ]
        labels = {
            "sample_interval_seconds": "Sample every (seconds)",
            "line_download_mbps": "Line download capacity (Mbit/s)",
            "line_upload_mbps": "Line upload capacity (Mbit/s)",
            "line_interfaces": "Interfaces on the line",
            "watched_mounts": "Watched folders (disk space)",
            "mail_system": "Mail system",
            "mail_binary": "Path of its queue program (optional)",
            "watched_files": "Watched configuration files (with a diff)",
            "checksum_files": "Watched files compared by checksum only",
            "drift_check_interval_hours": "Check configuration every (hours)",
        }
        widgets = {
            "watched_mounts": forms.Textarea(attrs={"rows": 3}),
            "watched_files": forms.Textarea(attrs={"rows": 7}),
            "checksum_files": forms.Textarea(attrs={"rows": 3}),
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

    def _clean_patterns(self, name: str) -> str:
        lines = [line.strip() for line in self.cleaned_data[name].splitlines() if line.strip()]
        relative = [line for line in lines if not line.startswith("/")]
        if relative:
            raise forms.ValidationError(f"Use absolute paths (starting with /): {', '.join(relative)}")
        if len(lines) > 200:
            raise forms.ValidationError("Watch at most 200 files or patterns.")
        limit = settings.DRIFT_MAX_FILES
        errors = []
        for line in lines:
            # The portal's own secrets are never read into the database or shown (issue 14).
            if reason := forbidden_reason(line):
                errors.append(f"{line}: {reason}")
                continue
            if not is_glob(line):
                continue
            paths, more = expand_pattern(line, limit)
            if more:
                errors.append(
                    f"{line} matches more than {limit:,} files; a pattern may match at most {limit:,}"
                    " (narrow it, e.g. /etc/postfix/*.cf)"
                )
            errors.extend(f"{line} matches {path}: {reason}" for path in paths if (reason := forbidden_reason(path)))
        if errors:
            raise forms.ValidationError(errors[:10])
        return "\n".join(lines)

    def clean_watched_files(self) -> str:
        return self._clean_patterns("watched_files")

    def clean_checksum_files(self) -> str:
        return self._clean_patterns("checksum_files")

    def clean_mail_binary(self) -> str:
        value = self.cleaned_data["mail_binary"].strip()
        system = self.cleaned_data.get("mail_system")
        if not value:
            return ""
        if system not in QUEUE_PROGRAMS:
            raise forms.ValidationError("Choose Postfix or Exim to give the path of its queue program.")
        programs = QUEUE_PROGRAMS[system][0]
        if not os.path.isabs(value) or os.path.normpath(value) != value:
            raise forms.ValidationError("Give an absolute path without . or .. parts, e.g. /usr/sbin/postqueue.")
        if os.path.basename(value) not in programs:
            # Only the mail system's own queue program is ever run, with fixed arguments.
            raise forms.ValidationError(f"The program must be {' or '.join(programs)} (e.g. /usr/sbin/{programs[0]}).")
        return value


class ThresholdForm(forms.ModelForm):
    class Meta:
        model = LoadThreshold
        fields = ["enabled", "warning", "critical", "clear", "duration_minutes"]
        widgets = {name: forms.NumberInput(attrs={"step": "any"}) for name in ("warning", "critical", "clear")}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # One row per metric, the column headers are not labels: name each box "CPU: Warning".
        for field in self.fields.values():
            field.widget.attrs["aria-label"] = f"{self.instance.get_metric_display()}: {field.label}"

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


class ApproveManyForm(ApproveBaselineForm):
    """Several open findings approved with one reason (a new glob's new files, one patch's changes)."""

    findings = forms.ModelMultipleChoiceField(
        queryset=DriftFinding.objects.filter(resolved_at__isnull=True),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Tick the findings to approve."},
    )
