from __future__ import annotations

from captcha.fields import CaptchaField
from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import SetPasswordForm
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.addresses import MAX_LENGTH, canonical, compatible
from accounts.models import AppPassword, Department, Device, DeviceSettings, OrganisationSettings, User
from accounts.roles import Role
from portal.dates import DayField

# The same words whether the account exists, is inactive, or the password is wrong.
WRONG_CREDENTIALS = "Email address or password is not correct."
# Said to someone whose form did not show the picture yet: an instruction, not an error.
CAPTCHA_PROMPT = "Type the characters in the picture to continue."
CAPTCHA_FOR_NETWORK = (
    "Several sign-ins from your network failed recently, so everyone here is asked for the characters in a "
    "picture. Type them to continue."
)


TOO_MANY_PICTURES = (
    "Too many sign-in pictures were asked for from your network in the last minute. Wait a minute, then reload "
    "this page."
)
RESET_LIMITED = (
    "Too many password reset requests came from your network in the last hour. Try again later, or ask IT staff."
)


def wait_message(seconds: int) -> str:
    unit = "second" if seconds == 1 else "seconds"
    return f"Too many failed tries for this account. Wait {seconds} {unit}, then try again."


def locked_message(until) -> str:
    return (
        "This account is locked after too many failed sign-ins. It unlocks by itself at "
        f"{timezone.localtime(until):%H:%M}. To unlock it now, reset your password (“Forgotten your password?” "
        "below) or ask IT staff."
    )


class EmailAddressField(forms.EmailField):
    """An email field that reads full-width letters and ligatures as the plain address (``addresses.compatible``)."""

    def to_python(self, value):
        return compatible(super().to_python(value))


class SignInForm(forms.Form):
    username = EmailAddressField(
        label="Email address", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "username"})
    )
    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, request, *args, captcha: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.user: User | None = None
        if captcha:
            self.fields["captcha"] = CaptchaField(
                label="Characters in the picture", help_text="Type the characters you see, to show you are a person."
            )

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        user = authenticate(self.request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            raise forms.ValidationError(WRONG_CREDENTIALS, code="invalid_login")
        self.user = user
        return data


class OTPCodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=20,
        help_text="The 6-digit code from your authenticator app, or one of your backup codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "off", "spellcheck": "false"}
        ),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if not code.replace("-", "").isalnum():
            raise forms.ValidationError("Use only digits, letters and dashes.")
        return code


class EnrolStartForm(forms.Form):
    name = forms.CharField(
        label="Name of this token",
        max_length=64,
        initial="Phone",
        help_text="So you can tell your tokens apart, e.g. “Phone” or “Spare phone”.",
    )


class ConfirmTokenForm(forms.Form):
    code = forms.CharField(
        label="Code from your app",
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if not code.isdigit() or len(code) != 6:
            raise forms.ValidationError("Enter the 6 digits your app shows now.")
        return code


class ReauthForm(forms.Form):
    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, user: User, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return password


class InvitationPasswordForm(SetPasswordForm):
    """Set the first password from an invitation link."""


class PasswordResetForm(forms.Form):
    email = EmailAddressField(
        label="Email address", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )


class TokenResetForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded in the audit log and sent to the user, e.g. “phone lost”.",
    )

    def clean_reason(self) -> str:
        reason = " ".join(self.cleaned_data["reason"].split())
        if len(reason) < 3:
            raise forms.ValidationError("Say briefly why the tokens are reset.")
        return reason


class RoleForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["role", "department", "is_active"]
        labels = {"is_active": "Active (may sign in)"}


class UserCreateForm(forms.ModelForm):
    department_name = forms.CharField(label="Department", max_length=100, required=False)

    class Meta:
        model = User
        fields = ["email", "first_name", "last_name", "role"]
        field_classes = {"email": EmailAddressField}

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if len(canonical(email)) > MAX_LENGTH:
            raise forms.ValidationError("This address is too long.")
        if User.objects.with_email(email).exists():
            raise forms.ValidationError("A user with this email address already exists.")
        return email

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        name = self.cleaned_data.get("department_name", "").strip()
        user.department = Department.objects.get_or_create(name=name)[0] if name else None
        user.is_staff = user.role == Role.IT_STAFF
        user.set_unusable_password()
        if commit:
            user.save()
        return user


class UserImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, with a header row: email, first_name, last_name, department, role "
        "(role is employee, executive or it_staff).",
    )
    send_invitations = forms.BooleanField(label="Send invitations to the new users", required=False, initial=True)


class UserFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False)
    role = forms.ChoiceField(label="Role", required=False, choices=[("", "Any role"), *Role.choices])
    department = forms.ModelChoiceField(
        label="Department", required=False, queryset=Department.objects.all(), empty_label="Any department"
    )
    otp = forms.ChoiceField(
        label="OTP status",
        required=False,
        choices=[
            ("", "Any status"),
            ("enrolled", "Enrolled"),
            ("pending", "Pending"),
            ("overdue", "Overdue"),
            ("none", "None"),
        ],
    )
    locked = forms.BooleanField(label="Locked only", required=False)


class AuditFilterForm(forms.Form):
    action = forms.CharField(
        label="Action", required=False, help_text="The code under an entry's words, or its start: otp.reuse, login"
    )
    actor = forms.CharField(label="Actor email", required=False)
    target = forms.CharField(label="Target", required=False)
    since = DayField(label="From", required=False)
    until = DayField(label="To", required=False)


# Shown in their own section of the sign-in settings: they apply to mail programs, not to portal sign-in.
MAIL_SETTINGS = (
    "mailbox_passwords",
    "mailbox_passwords_until",
    "app_passwords_per_user",
    "revoke_app_passwords_on_token_reset",
    "mail_refusal_alert_threshold",
    "mail_refusal_alert_minutes",
)


class OrganisationSettingsForm(forms.ModelForm):
    MAIL_FIELDS = MAIL_SETTINGS

    class Meta:
        model = OrganisationSettings
        fields = [
            "otp_required",
            "grace_period_days",
            "invitation_lifetime_hours",
            "lockout_window_minutes",
            "captcha_after_failures",
            "hard_lock_after",
            "network_captcha_after",
            "code_failures_notify",
            "code_failures_alert",
            "reset_emails_per_hour",
            "reset_requests_per_hour",
            *MAIL_SETTINGS,
        ]
        field_classes = {"mailbox_passwords_until": DayField}

    def clean(self) -> dict:
        data = super().clean()
        lock, captcha = data.get("hard_lock_after"), data.get("captcha_after_failures")
        if lock and captcha and captcha >= lock:
            raise forms.ValidationError(_("The CAPTCHA must come before the lock (fewer failures)."))
        notify, alert = data.get("code_failures_notify"), data.get("code_failures_alert")
        if notify and alert and alert < notify:
            raise forms.ValidationError(_("Tell the person before (or when) IT staff are alerted, not after."))
        mode, until = data.get("mailbox_passwords"), data.get("mailbox_passwords_until")
        if mode == OrganisationSettings.MailboxPasswords.UNTIL and until is None:
            self.add_error("mailbox_passwords_until", "Choose the last day on which mailbox passwords work.")
        elif (
            mode == OrganisationSettings.MailboxPasswords.UNTIL
            and until < timezone.localdate()
            and {"mailbox_passwords", "mailbox_passwords_until"} & set(self.changed_data)
        ):
            self.add_error(
                "mailbox_passwords_until", "That day has passed: choose a later day, or refuse mailbox passwords now."
            )
        elif mode != OrganisationSettings.MailboxPasswords.UNTIL and until is not None:
            data["mailbox_passwords_until"] = None  # a date only means something with "until"
        return data


class AppPasswordForm(forms.Form):
    ACCESS = [
        ("read_send", "Read and send mail (a mail program: Outlook, Thunderbird, Apple Mail, a phone's mail app)"),
        ("read", "Read mail only (IMAP, POP3)"),
        ("send", "Send mail only (a scanner, a printer or a script that sends mail)"),
    ]
    name = forms.CharField(
        label="Device and program",
        max_length=64,
        help_text="So you can tell them apart, e.g. “Outlook on my laptop” or “iPhone Mail”.",
    )
    access = forms.ChoiceField(label="What may it do?", choices=ACCESS, initial="read_send", widget=forms.RadioSelect)

    def __init__(self, user: User, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if AppPassword.objects.usable().filter(user=self.user, name__iexact=name).exists():
            raise forms.ValidationError("You already have an app password with this name. Choose another name.")
        return name

    @property
    def can_read(self) -> bool:
        return self.cleaned_data["access"] in ("read_send", "read")

    @property
    def can_send(self) -> bool:
        return self.cleaned_data["access"] in ("read_send", "send")


class DeviceForm(forms.ModelForm):
    class Meta:
        model = Device
        fields = ["name", "kind", "platform"]
        labels = {"name": "Name", "kind": "Kind", "platform": "System"}
        widgets = {"kind": forms.RadioSelect, "platform": forms.RadioSelect}

    def __init__(self, user: User, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if Device.objects.usable().filter(user=self.user, name__iexact=name).exists():
            raise forms.ValidationError("A device in use already has this name. Choose another name.")
        return name


class DeviceFilterForm(forms.Form):
    show = forms.ChoiceField(label="Show", required=False, choices=[("", "Every device in use")], widget=forms.Select)
    q = forms.CharField(label="Name or address", required=False, max_length=100)

    def __init__(self, *args, filters: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["show"].choices = [("", "Every device in use"), *filters.items()]


class DeviceSettingsForm(forms.ModelForm):
    RULE_FIELDS = ("certificate_employee", "certificate_executive", "certificate_it_staff")

    class Meta:
        model = DeviceSettings
        fields = [
            "certificate_employee",
            "certificate_executive",
            "certificate_it_staff",
            "certificate_lifetime_days",
            "hygiene_grace_days",
            "suspend_when_overdue",
        ]

    def __init__(self, *args, editor: User, editor_has_certificate: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.editor = editor
        self.editor_has_certificate = editor_has_certificate

    def clean(self) -> dict:
        data = super().clean()
        own = {Role.EMPLOYEE: "certificate_employee", Role.EXECUTIVE: "certificate_executive"}.get(
            self.editor.role, "certificate_it_staff"
        )
        if data.get(own) == DeviceSettings.Rule.PORTAL and not self.editor_has_certificate:
            self.add_error(
                own,
                "This browser has no valid company certificate of yours, so this rule would lock you out of the "
                "portal. Install a certificate on this device first (My devices), then open this page again.",
            )
        return data
