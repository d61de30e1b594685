"""OTP tokens, hashed backup codes, invitations, lockout and organisation sign-in settings."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin

from portal.singletons import Singleton

__all__ = [
    "AccountLock",
    "BackupCode",
    "BackupCodeDevice",
    "Invitation",
    "OrganisationSettings",
    "PasswordResetRequest",
    "SignInFailure",
]


class OrganisationSettings(Singleton):
    """The organisation's sign-in rules: one row (``load()``), edited by IT staff."""

    otp_required = models.BooleanField(
        "OTP required", default=True, help_text="Every user must enrol a token before using the portal."
    )
    grace_period_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MaxValueValidator(365)],
        help_text="Days after an account is created before a user without a token is overdue.",
    )
    invitation_lifetime_hours = models.PositiveSmallIntegerField(
        default=72, validators=[MinValueValidator(1), MaxValueValidator(24 * 30)]
    )
    # Sign-in failures (OWASP ASVS 4.0.3 V2.2.1, soft lockout): see accounts.lockout.
    lockout_window_minutes = models.PositiveSmallIntegerField(
        "failure window (minutes)",
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="Failures count for this long; a locked account unlocks this long after its last failure.",
    )
    captcha_after_failures = models.PositiveSmallIntegerField(
        "CAPTCHA after failures",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Failed sign-ins for one account after which its form also asks for the characters in a "
        "picture, and each further try waits longer (1, 2, 4 … up to 60 seconds).",
    )
    hard_lock_after = models.PositiveSmallIntegerField(
        "lock after failures",
        default=20,
        validators=[MinValueValidator(5), MaxValueValidator(1000)],
        help_text="Failed sign-ins for one account that lock it (the person is emailed how to unlock it).",
    )
    network_captcha_after = models.PositiveSmallIntegerField(
        "CAPTCHA for a network after failures",
        default=20,
        validators=[MinValueValidator(2), MaxValueValidator(10_000)],
        help_text="Failed sign-ins from one network (any accounts) after which everyone there is asked for the "
        "picture characters. Nobody is locked out by this.",
    )
    code_failures_notify = models.PositiveSmallIntegerField(
        "tell the person after wrong codes",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Wrong codes after a correct password before the person is emailed: someone knows their password.",
    )
    code_failures_alert = models.PositiveSmallIntegerField(
        "alert IT staff after wrong codes",
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Wrong codes after a correct password before IT staff are alerted.",
    )
    reset_emails_per_hour = models.PositiveSmallIntegerField(
        "password reset emails per person per hour",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    reset_requests_per_hour = models.PositiveSmallIntegerField(
        "password reset requests per network per hour",
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(10_000)],
    )

    # --- mail clients (IMAP, POP3, SMTP submission); docs/mail-clients.md ---
    class MailboxPasswords(models.TextChoices):
        ALLOWED = "allowed", "Accepted (app passwords optional)"
        UNTIL = "until", "Accepted until a date, then refused"
        REFUSED = "refused", "Refused: app passwords only"

    mailbox_passwords = models.CharField(
        "mailbox passwords for mail programs",
        max_length=10,
        choices=MailboxPasswords.choices,
        default=MailboxPasswords.ALLOWED,
        help_text="Whether IMAP, POP3 and SMTP still accept a person's mailbox password besides app passwords. "
        "A deactivated account never gets in, whatever this says.",
    )
    mailbox_passwords_until = models.DateField(
        "mailbox passwords accepted until",
        null=True,
        blank=True,
        help_text="Last day on which mailbox passwords work (with “until a date”). People who still use "
        "theirs are reminded 14, 7 and 1 day(s) before.",
    )
    app_passwords_per_user = models.PositiveSmallIntegerField(
        "app passwords per person",
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="How many devices one person may have app passwords for (revoked ones do not count).",
    )
    revoke_app_passwords_on_token_reset = models.BooleanField(
        "token reset revokes app passwords",
        default=True,
        help_text="Resetting someone's tokens (e.g. a lost phone) also revokes all their app passwords.",
    )
    mail_refusal_alert_threshold = models.PositiveSmallIntegerField(
        "refused mail logins before an alert",
        default=20,
        validators=[MinValueValidator(3), MaxValueValidator(10_000)],
        help_text="Refused IMAP/POP3/SMTP logins for one person within the window below that alert IT staff "
        "(someone guessing the mailbox password).",
    )
    mail_refusal_alert_minutes = models.PositiveSmallIntegerField(
        "refusal alert window (minutes)", default=10, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    # --- targets of the executive summary (policies/summary.py): green at or above, amber just below ---
    acknowledged_target = models.PositiveSmallIntegerField(
        "policies acknowledged target (%)",
        default=95,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Share of the acknowledgements of current policy versions the organisation aims for.",
    )
    enrolled_target = models.PositiveSmallIntegerField(
        "one-time passwords enrolled target (%)",
        default=100,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Share of active people with a one-time password token the organisation aims for.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "organisation sign-in settings"
        verbose_name_plural = "organisation sign-in settings"

    def __str__(self) -> str:
        return "Organisation sign-in settings"

    @property
    def grace_period(self) -> timedelta:
        return timedelta(days=self.grace_period_days)

    @property
    def lockout_window(self) -> timedelta:
        return timedelta(minutes=self.lockout_window_minutes)

    @property
    def invitation_lifetime(self) -> timedelta:
        return timedelta(hours=self.invitation_lifetime_hours)

    def mailbox_password_cutoff(self):
        """The instant mailbox passwords stop working (start of the day after ``until``), or None."""
        from datetime import datetime, time

        if self.mailbox_passwords != self.MailboxPasswords.UNTIL or self.mailbox_passwords_until is None:
            return None
        day_after = self.mailbox_passwords_until + timedelta(days=1)
        return timezone.make_aware(datetime.combine(day_after, time.min), timezone.get_default_timezone())

    def mail_policy(self):
        """The rules the mail login verifier applies (``accounts.mailauth.decision.Policy``)."""
        from accounts.mailauth.decision import Policy

        return Policy(
            mailbox=self.mailbox_passwords,
            mailbox_cutoff=self.mailbox_password_cutoff(),
            alert_threshold=self.mail_refusal_alert_threshold,
            alert_minutes=self.mail_refusal_alert_minutes,
        )


# Backup codes: PBKDF2 with a per-code salt. The codes carry 50 random bits, so a
# modest work factor keeps a leaked table useless while checking 10 codes stays fast.
BACKUP_CODE_ITERATIONS = 20_000


class BackupCodeDevice(ThrottlingMixin, Device):
    """A django-otp device whose tokens are the user's one-time backup codes, stored hashed."""

    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(Device.Meta):
        verbose_name = "backup code set"

    def get_throttle_factor(self) -> int:
        return getattr(settings, "OTP_BACKUP_THROTTLE_FACTOR", 1)

    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()

    def verify_token(self, token: object) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        from accounts.backup_codes import normalise

        code = normalise(str(token))
        hasher = PBKDF2PasswordHasher()
        with transaction.atomic():
            for backup in self.codes.select_for_update().filter(used_at__isnull=True):
                if code and hasher.verify(code, backup.code_hash):
                    now = timezone.now()
                    # Conditional update: two requests racing with one code cannot both win.
                    if BackupCode.objects.filter(pk=backup.pk, used_at__isnull=True).update(used_at=now) != 1:
                        break
                    self.last_used_at = now
                    self.throttle_reset(commit=False)
                    self.save()
                    return True
        self.throttle_increment(commit=True)
        return False


class BackupCode(models.Model):
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=200)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"backup code {self.pk} ({'used' if self.used_at else 'unused'})"


class InvitationQuerySet(models.QuerySet):
    def usable(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """A single-use link to set a password and enrol. Only the SHA-256 of the link's token is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"invitation for {self.user}"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "open"

    def is_usable(self) -> bool:
        return self.status == "open"


class SignInFailure(models.Model):
    """One failed step (password, code, or the password again while signed in), counted in a window."""

    PASSWORD = "password"  # noqa: S105 (a step name, not a secret)
    OTP = "otp"
    REAUTH = "reauth"

    # The address typed, in canonical form (accounts.addresses), whether or not it has an account.
    email = models.CharField(max_length=254, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # The client's network (CLIENT_NETWORK_IPV4_PREFIX / _IPV6_PREFIX), e.g. "192.0.2.0/24".
    network = models.CharField(max_length=50, blank=True, db_index=True)
    step = models.CharField(
        max_length=10,
        choices=[(PASSWORD, "password"), (OTP, "one-time code"), (REAUTH, "password while signed in")],
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.email} {self.ip_address} {self.step}"


class AccountLock(models.Model):
    """An account locked after ``hard_lock_after`` failures, until ``locked_until`` (or lifted, or a reset)."""

    email = models.CharField(max_length=254, unique=True)  # canonical form, whether or not it has an account
    failures = models.PositiveIntegerField()
    locked_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-locked_at"]

    def __str__(self) -> str:
        return f"{self.email} locked until {self.locked_until:%Y-%m-%d %H:%M}"


class PasswordResetRequest(models.Model):
    """One "forgotten password" request: stored by the request, answered by the worker.

    The request does the same work whether or not the address has an account (this row, one count, one
    audit event), so neither the answer nor its timing says which addresses exist. The worker looks the
    address up and sends the email, at most ``reset_emails_per_hour`` to one person.
    """

    class Outcome(models.TextChoices):
        SENT = "sent", "Email sent"
        NO_ACCOUNT = "no_account", "No active account with a password"
        LIMITED = "limited", "Hourly limit reached: no email"

    email = models.CharField(max_length=254, db_index=True)  # canonical form
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    network = models.CharField(max_length=50, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"password reset for {self.email} at {self.created_at:%Y-%m-%d %H:%M}"
