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
    "BackupCode",
    "BackupCodeDevice",
    "Invitation",
    "OrganisationSettings",
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
    lockout_threshold = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(2), MaxValueValidator(100)],
        help_text="Failed sign-ins (per account and per address) that lock sign-in.",
    )
    lockout_window_minutes = models.PositiveSmallIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    captcha_after_failures = models.PositiveSmallIntegerField(
        "CAPTCHA after failures",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Failed sign-ins after which the form also asks for the code in a picture.",
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
    """One failed sign-in step (password or OTP); lockout and CAPTCHA count these in a window."""

    PASSWORD = "password"  # noqa: S105 (a step name, not a secret)
    OTP = "otp"

    email = models.CharField(max_length=254, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    step = models.CharField(max_length=10, choices=[(PASSWORD, "password"), (OTP, "one-time code")])
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.email} {self.ip_address} {self.step}"
