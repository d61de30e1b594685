"""Forms of the portal's own pages: the outgoing-messages filter and alert channels."""

from __future__ import annotations

from django import forms

from portal import channels
from portal.message_kinds import kind_words
from portal.models import AlertChannel, OutboxMessage


class OutboxFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *OutboxMessage.Status.choices], required=False)
    kind = forms.ChoiceField(choices=[("", "Any kind")], required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The words are offered, the codes are the values (a bookmarked ?kind=accounts-lockout keeps working).
        kinds = OutboxMessage.objects.order_by().values_list("kind", flat=True).distinct()
        choices = sorted(((kind, kind_words(kind)) for kind in kinds), key=lambda choice: choice[1].lower())
        self.fields["kind"].choices = [("", "Any kind"), *choices]

    def filter(self, rows):
        if not self.is_valid():
            return rows
        if status := self.cleaned_data["status"]:
            rows = rows.filter(status=status)
        if kind := self.cleaned_data["kind"]:
            rows = rows.filter(kind=kind)
        return rows


class AlertChannelForm(forms.ModelForm):
    """Add or change a channel. The saved URL is never put back into the page: blank keeps it."""

    url = forms.CharField(
        label="Apprise URL",
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "wide"}),
    )
    severities = forms.MultipleChoiceField(
        choices=AlertChannel.Severity.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[AlertChannel.Severity.WARNING, AlertChannel.Severity.CRITICAL],
        help_text="Which alerts go to this channel.",
    )

    class Meta:
        model = AlertChannel
        fields = ["name", "severities", "enabled"]
        help_texts = {"name": "Shown on the pages and in the audit log, e.g. “IT on-call (ntfy)”."}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields[
                "url"
            ].help_text = f"Saved: {self.instance.masked_url()}. Leave blank to keep it; a new URL replaces it."
        else:
            self.fields["url"].help_text = (
                "One Apprise URL, e.g. ntfy://ntfy.example.com/it-alerts, json://hooks.example.com/alert, "
                "msteams://…, slack://…, tgram://…, matrix://…, gotify://…. It holds the channel's tokens: "
                "after saving it is never shown again."
            )
        # Before the model's own fields, where a person reads top to bottom.
        self.order_fields(["name", "url", "severities", "enabled"])

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        if not url:
            if not self.instance.pk:
                raise forms.ValidationError("Enter the channel's Apprise URL.")
            return ""
        error = channels.check_url(url)
        if error:
            raise forms.ValidationError(error)
        return url

    @property
    def url_changed(self) -> bool:
        return bool(self.cleaned_data.get("url")) and self.cleaned_data["url"] != self.instance.url

    def save(self, commit: bool = True) -> AlertChannel:
        channel = super().save(commit=False)
        if self.cleaned_data.get("url"):
            channel.url = self.cleaned_data["url"]
        if commit:
            channel.save()
        return channel
