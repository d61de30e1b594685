"""A person's devices (laptops, phones, tablets), their client certificates, the portal's small devices CA.

A ``Device`` groups what one machine holds: the app passwords of its mail programs (``AppPassword.device``)
and at most one usable client certificate (``DeviceCertificate``) for webmail behind nginx. It is not an
OTP device (django-otp's ``Device``), which is a token.

Certificates come from the portal's own CA (``DeviceCA``, ``accounts.devices.ca``): one *active* CA issues;
after a rotation the previous one is *retiring* (still trusted, issues nothing) until IT staff retire it.
Every CA keeps its last signed CRL here, so any web process can publish it and the tick can write it for
nginx. The CA's private key is stored encrypted (PKCS#8, ``DEVICE_CA_KEY_PASSPHRASE``), never in clear.

States change through conditional updates (``UPDATE ... WHERE state = old``), so two requests racing
never both revoke, suspend or download.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.roles import Role
from portal.singletons import Singleton

__all__ = ["Device", "DeviceCA", "DeviceCertificate", "DeviceSettings"]


class DeviceSettings(Singleton):
    """The organisation's rules for devices and their certificates (one row, edited by IT staff)."""

    class Rule(models.TextChoices):
        NONE = "none", "Not needed"
        WEBMAIL = "webmail", "Needed for webmail"
        PORTAL = "portal", "Needed for webmail and the portal"

    certificate_employee = models.CharField(
        "company certificate for employees", max_length=10, choices=Rule.choices, default=Rule.NONE
    )
    certificate_executive = models.CharField(
        "company certificate for executives", max_length=10, choices=Rule.choices, default=Rule.NONE
    )
    certificate_it_staff = models.CharField(
        "company certificate for IT staff", max_length=10, choices=Rule.choices, default=Rule.NONE
    )
    certificate_lifetime_days = models.PositiveSmallIntegerField(
        "certificate lifetime (days)",
        default=365,
        validators=[MinValueValidator(7), MaxValueValidator(825)],
        help_text="How long a new device certificate is valid. Its owner is reminded 30 and 7 days before it ends.",
    )
    hygiene_grace_days = models.PositiveSmallIntegerField(
        "device check grace (days)",
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text="Days after a device-hygiene attestation is sent before an unanswered one marks the person's "
        "devices “attestation overdue”.",
    )
    suspend_when_overdue = models.BooleanField(
        "suspend certificates of overdue devices",
        default=False,
        help_text="An overdue device's certificate stops opening webmail until its owner answers the next device "
        "check (the portal itself stays open to them, so they can answer it).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "device settings"
        verbose_name_plural = "device settings"

    def __str__(self) -> str:
        return "Device settings"

    def rule_for(self, role: str) -> str:
        return {
            Role.EMPLOYEE: self.certificate_employee,
            Role.EXECUTIVE: self.certificate_executive,
            Role.IT_STAFF: self.certificate_it_staff,
        }.get(role, self.Rule.NONE)


class DeviceQuerySet(models.QuerySet):
    def usable(self) -> DeviceQuerySet:
        return self.filter(state=Device.State.ACTIVE)


class Device(models.Model):
    class Kind(models.TextChoices):
        LAPTOP = "laptop", "Laptop or desktop"
        PHONE = "phone", "Phone"
        TABLET = "tablet", "Tablet"

    class Platform(models.TextChoices):
        APPLE = "apple", "Apple (macOS, iPhone, iPad)"
        WINDOWS = "windows", "Windows"
        ANDROID = "android", "Android"
        LINUX = "linux", "Linux"
        OTHER = "other", "Other"

    class State(models.TextChoices):
        ACTIVE = "active", "In use"
        REVOKED = "revoked", "Revoked"

    class RevokeReason(models.TextChoices):
        OWNER = "owner", "Removed by its owner"
        IT_STAFF = "it_staff", "Revoked by IT staff"
        DEACTIVATED = "deactivated", "Account deactivated"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices")
    name = models.CharField(max_length=64, help_text="So you can tell them apart, e.g. “ThinkPad” or “iPhone 13”.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LAPTOP)
    platform = models.CharField(max_length=10, choices=Platform.choices, default=Platform.OTHER)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Webmail through the gateway with this device's certificate: written at most every few minutes per session.
    webmail_last_seen_at = models.DateTimeField(null=True, blank=True)
    webmail_last_seen_ip = models.GenericIPAddressField(null=True, blank=True)
    # The device-hygiene attestation (policies' attestation campaigns about devices), kept by
    # accounts.devices.hygiene from what the policies app reports: the last answer that covers this
    # device, and since when an unanswered one is overdue (null: not overdue).
    last_attested_at = models.DateTimeField(null=True, blank=True)
    last_attestation = models.CharField(max_length=200, blank=True)
    hygiene_overdue_since = models.DateTimeField(null=True, blank=True, db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_reason = models.CharField(max_length=20, choices=RevokeReason.choices, blank=True)

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "state"])]

    def __str__(self) -> str:
        return f"device “{self.name}” of {self.user_id} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE

    @property
    def is_apple(self) -> bool:
        return self.platform == self.Platform.APPLE


class DeviceCAQuerySet(models.QuerySet):
    def trusted(self) -> DeviceCAQuerySet:
        """The CAs nginx trusts (the active one and, during a rotation, the retiring one)."""
        return self.filter(state__in=[DeviceCA.State.ACTIVE, DeviceCA.State.RETIRING])


class DeviceCA(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "Active: issues new certificates"
        RETIRING = "retiring", "Retiring: still trusted, issues nothing"
        RETIRED = "retired", "Retired: no longer trusted"

    name = models.CharField(max_length=200, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    key_type = models.CharField(max_length=20)
    certificate_pem = models.TextField()
    # PKCS#8 "ENCRYPTED PRIVATE KEY" under DEVICE_CA_KEY_PASSPHRASE: never an unencrypted key.
    encrypted_key_pem = models.TextField()
    serial = models.CharField(max_length=64)
    fingerprint_sha256 = models.CharField(max_length=64)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True, help_text="When a newer CA took over issuing.")
    retired_at = models.DateTimeField(null=True, blank=True)
    # The last signed CRL (PEM), its number and validity. ``crl_wanted`` is set by every revocation and
    # cleared by the signing that includes it (accounts.devices.ca.refresh_crls).
    crl_pem = models.TextField(blank=True)
    crl_number = models.PositiveBigIntegerField(default=0)
    crl_this_update = models.DateTimeField(null=True, blank=True)
    crl_next_update = models.DateTimeField(null=True, blank=True)
    crl_wanted = models.BooleanField(default=True)

    objects = DeviceCAQuerySet.as_manager()

    class Meta:
        verbose_name = "devices CA"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["state"], condition=Q(state="active"), name="one_active_device_ca"),
        ]

    def __str__(self) -> str:
        return self.name


class DeviceCertificateQuerySet(models.QuerySet):
    def usable(self) -> DeviceCertificateQuerySet:
        """Not revoked: active or suspended (expired ones are still "usable" rows; the dates decide)."""
        return self.filter(state__in=[DeviceCertificate.State.ACTIVE, DeviceCertificate.State.SUSPENDED])


class DeviceCertificate(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        REVOKED = "revoked", "Revoked"

    class RevokeReason(models.TextChoices):
        # Each maps to an RFC 5280 CRL reason code (accounts.devices.ca.CRL_REASONS).
        OWNER = "owner", "Revoked by its owner"
        IT_STAFF = "it_staff", "Revoked by IT staff"
        DEVICE_REVOKED = "device_revoked", "Device revoked"
        DEACTIVATED = "deactivated", "Account deactivated"
        SUPERSEDED = "superseded", "Replaced by a newer certificate"
        NOT_DOWNLOADED = "not_downloaded", "Never downloaded"
        CA_RETIRED = "ca_retired", "Its CA was retired"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="certificates")
    ca = models.ForeignKey(DeviceCA, on_delete=models.PROTECT, related_name="certificates")
    # Lower-case hex without leading zeros (what accounts.devices.gate.serial_key makes of nginx's).
    serial = models.CharField(max_length=64, unique=True)
    subject = models.CharField(max_length=300)
    key_type = models.CharField(max_length=20)
    fingerprint_sha256 = models.CharField(max_length=64)
    certificate_pem = models.TextField()
    not_before = models.DateTimeField()
    not_after = models.DateTimeField(db_index=True)
    # The PKCS#12 file (encrypted with the one-time password shown once) until its download; then gone.
    pkcs12 = models.BinaryField(null=True, blank=True, editable=False)
    issued_at = models.DateTimeField(default=timezone.now)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    downloaded_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspended_reason = models.CharField(max_length=200, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_reason = models.CharField(max_length=20, choices=RevokeReason.choices, blank=True)

    objects = DeviceCertificateQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["ca", "state"]), models.Index(fields=["device", "state"])]

    def __str__(self) -> str:
        return f"certificate {self.serial} of device {self.device_id} ({self.state})"

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.not_after <= (now or timezone.now())

    @property
    def status(self) -> str:
        """What people see: active, suspended, revoked, expired, or waiting for its download."""
        if self.state != self.State.ACTIVE:
            return self.state
        if self.is_expired():
            return "expired"
        return "active" if self.downloaded_at else "not downloaded"

    @property
    def serial_display(self) -> str:
        """The serial as browsers and ``openssl x509 -serial`` show it: upper-case hex byte pairs."""
        digits = self.serial.upper()
        return digits if len(digits) % 2 == 0 else "0" + digits
