from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format

from monitoring.dnsbl.checker import BadInput, expand_targets, normalise_address, validate_zone_name
from monitoring.dnsbl.models import DnsblSchedule, DnsblSweep, DnsblZone, MonitoredAddress


class CheckForm(forms.Form):
    targets = forms.CharField(
        label="Addresses or networks",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "192.0.2.10\n198.51.100.0/28\n2001:db8::/124"}),
        help_text="One per line (or separated by commas or spaces). Networks up to /24 (IPv4) and /120 (IPv6).",
    )
    zones = forms.ModelMultipleChoiceField(
        queryset=DnsblZone.objects.filter(enabled=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave empty to check every enabled list.",
    )

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["targets"].help_text += f" At most {settings.DNSBL_MAX_ADDRESSES:,} addresses in one check."

    def clean_targets(self) -> list[str]:
        items = self.cleaned_data["targets"].replace(",", " ").split()
        try:
            expand_targets(items, settings.DNSBL_MAX_ADDRESSES)
        except BadInput as exc:
            raise forms.ValidationError(str(exc)) from None
        return items

    def clean(self) -> dict:
        data = super().clean()
        if self.user is not None:
            limit = settings.DNSBL_CHECKS_PER_HOUR
            recent = DnsblSweep.objects.filter(
                kind=DnsblSweep.Kind.CHECK, requested_by=self.user, created_at__gte=timezone.now() - timedelta(hours=1)
            ).order_by("created_at")
            started = list(recent.values_list("created_at", flat=True)[:limit])
            if len(started) >= limit:
                again = timezone.localtime(started[0] + timedelta(hours=1))
                raise forms.ValidationError(
                    f"You have started {limit} checks in the last hour, the most allowed (public lists ban senders"
                    f" of too many queries). The next check is possible at {date_format(again, 'H:i')}."
                )
        return data


class ZoneForm(forms.ModelForm):
    codes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One per line: <code>127.0.0.2 = meaning</code> (or <code>8 = meaning</code> for bitmask lists).",
    )
    delisting_url = forms.URLField(required=False, assume_scheme="https")
    refusal_codes = forms.CharField(
        required=False,
        help_text="Comma-separated answers that mean 'query refused', e.g. 127.255.255.254 or a range 127.255.255.0/24",
    )

    class Meta:
        model = DnsblZone
        fields = [
            "name", "zone", "kind", "ipv6", "codes", "bitmask", "refusal_codes", "refusal_advice",
            "delisting_url", "needs_registration", "needs_key", "key", "notes", "enabled", "position",
        ]  # fmt: skip
        widgets = {"key": forms.PasswordInput(render_value=False), "notes": forms.Textarea(attrs={"rows": 2})}
        help_texts = {"key": "Never shown again once saved; leave empty to keep the current key."}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["codes"] = "\n".join(f"{code} = {meaning}" for code, meaning in self.instance.codes.items())
            self.initial["refusal_codes"] = ", ".join(self.instance.refusal_codes)

    def clean_zone(self) -> str:
        try:
            return validate_zone_name(self.cleaned_data["zone"])
        except BadInput as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_key(self) -> str:
        # The key is not sent back to the browser, so an empty field means "unchanged".
        key = self.cleaned_data["key"].strip()
        if key and (len(key) > 63 or not all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in key)):
            # It becomes the first label of every query name (KEY.zone).
            raise forms.ValidationError("An access key is up to 63 letters, digits, '-' or '_'.")
        return key or self.instance.key

    def clean_codes(self) -> dict[str, str]:
        codes: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["codes"].splitlines(), 1):
            if not line.strip():
                continue
            code, sep, meaning = line.partition("=")
            if not sep or not code.strip() or not meaning.strip():
                raise forms.ValidationError(f"Line {number}: write 'code = meaning'.")
            codes[code.strip()] = meaning.strip()
        return codes

    def clean_refusal_codes(self) -> list[str]:
        return [code.strip() for code in self.cleaned_data["refusal_codes"].split(",") if code.strip()]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("needs_key") and data.get("enabled") and not data.get("key"):
            self.add_error("key", "This list needs an access key before it can be enabled.")
        return data


class AddressForm(forms.ModelForm):
    class Meta:
        model = MonitoredAddress
        fields = ["value", "label"]
        labels = {"value": "Address or domain"}
        help_texts = {"value": "A sending IPv4/IPv6 address of the mail server, or one of the company's mail domains."}

    def clean_value(self) -> str:
        value = self.cleaned_data["value"].strip().lower().rstrip(".")
        if MonitoredAddress.kind_of(value) == MonitoredAddress.Kind.DOMAIN:
            try:
                validate_zone_name(value)
            except BadInput:
                raise forms.ValidationError(f"{value!r} is neither an IP address nor a domain name.") from None
        else:
            try:
                value = normalise_address(value)
            except BadInput as exc:
                raise forms.ValidationError(str(exc)) from None
        if MonitoredAddress.objects.filter(value=value).exists():
            raise forms.ValidationError(f"{value} is already monitored.")
        return value


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = DnsblSchedule
        fields = ["interval_minutes"]
        labels = {"interval_minutes": "Sweep every (minutes)"}

    def clean_interval_minutes(self) -> int:
        value = self.cleaned_data["interval_minutes"]
        if not 5 <= value <= 24 * 60:
            raise forms.ValidationError("Choose between 5 minutes and 24 hours (1440).")
        return value

    def save(self, commit: bool = True) -> DnsblSchedule:
        # A shorter interval takes effect now, not after the run planned under the old one.
        schedule = super().save(commit=False)
        soonest = timezone.now() + timedelta(minutes=schedule.interval_minutes)
        schedule.next_run_at = min(schedule.next_run_at, soonest)
        if commit:
            schedule.save()
        return schedule
