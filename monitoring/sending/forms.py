from __future__ import annotations

from django import forms

from accounts.addresses import canonical, compatible
from accounts.models import User
from monitoring.sending.models import LimitOverride, SenderAlias, SendingSettings, SharedMailbox


def address_in_use(address: str, *, alias: SenderAlias | None = None, mailbox: SharedMailbox | None = None) -> str:
    """Why ``address`` cannot be an alias or a shared mailbox ('' when it can): each address means one thing."""
    key = canonical(address)
    person = User.objects.with_email(key).first()
    if person is not None:
        return f"{person.email} is a person's own address."
    taken = SenderAlias.objects.filter(canonical_address=key).exclude(pk=getattr(alias, "pk", None)).first()
    if taken is not None:
        return f"{address} is already an alias of {taken.user.email}."
    if SharedMailbox.objects.filter(canonical_address=key).exclude(pk=getattr(mailbox, "pk", None)).exists():
        return f"{address} is already a shared mailbox."
    return ""


class SendingSettingsForm(forms.ModelForm):
    class Meta:
        model = SendingSettings
        fields = [
            "recipients_per_hour", "recipients_per_day", "messages_per_minute", "soft_mark_percent",
            "burst_multiplier", "burst_floor", "allow_subaddress",
        ]  # fmt: skip

    def clean(self):
        data = super().clean()
        hour, day = data.get("recipients_per_hour"), data.get("recipients_per_day")
        if hour and day and day < hour:
            self.add_error("recipients_per_day", "A day's limit below the hour's would make the hour's meaningless.")
        return data


class LimitOverrideForm(forms.ModelForm):
    """Limits of a role or a person; a blank field means "as the next level up"."""

    class Meta:
        model = LimitOverride
        fields = ["recipients_per_hour", "recipients_per_day", "messages_per_minute", "note"]
        help_texts = {"note": "Why these limits differ, for the next person who reads this."}

    def __init__(self, *args, row_label: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if row_label:
            # In the table of roles the column headers are not labels: name each box "Employee: Recipients per hour".
            for field in self.fields.values():
                field.widget.attrs["aria-label"] = f"{row_label}: {field.label}"


class AliasForm(forms.ModelForm):
    class Meta:
        model = SenderAlias
        fields = ["address", "note"]
        labels = {"address": "Alias address"}

    def clean_address(self) -> str:
        address = compatible(self.cleaned_data["address"])
        if problem := address_in_use(address, alias=self.instance):
            raise forms.ValidationError(problem)
        return address


class SharedMailboxForm(forms.ModelForm):
    members = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("email"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 10}),
        help_text="The people who may send as this address (hold Ctrl or Cmd to pick several).",
    )

    class Meta:
        model = SharedMailbox
        fields = ["address", "name", "members"]

    def clean_address(self) -> str:
        address = compatible(self.cleaned_data["address"])
        if problem := address_in_use(address, mailbox=self.instance):
            raise forms.ValidationError(problem)
        return address


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "e.g. password changed, laptop scanned and patched"}),
        help_text="Written to the audit log and shown on the person's page.",
    )

    def clean_reason(self) -> str:
        return " ".join(self.cleaned_data["reason"].split())
