"""App passwords for mail clients, the verifier's change counter, and per-user mail login facts.

An app password ("device password") lets one mail program on one device read mail (IMAP/POP3),
send mail (SMTP submission through Dovecot SASL), or both, instead of the mailbox password. Only a
salted HMAC of the random secret is stored (``accounts.mailauth.passwords``).

States: ``active`` -> ``revoked`` (final), and ``active`` <-> ``suspended``: the sending guard
suspends the send-scoped passwords of a hijacked account (``app_passwords.suspend_sending``); a
suspended password may still read mail but not send, until IT staff reinstate it. Every change goes
through a conditional update, so two requests racing never both "win".

``MailAuthState.version`` is bumped in the same transaction as any change the verifier must see
(app passwords, a user's email or active flag, the organisation's settings: receivers in
``accounts.signals``); the verifier polls it every second and reloads its in-memory snapshot when it moves.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from portal.singletons import Singleton

__all__ = ["AppPassword", "MailAuthState", "MailLoginSummary"]


class AppPasswordQuerySet(models.QuerySet):
    def usable(self) -> AppPasswordQuerySet:
        """Not revoked: active or suspended (what counts against the per-user limit)."""
        return self.filter(state__in=[AppPassword.State.ACTIVE, AppPassword.State.SUSPENDED])


class AppPassword(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        REVOKED = "revoked", "Revoked"

    class RevokeReason(models.TextChoices):
        OWNER = "owner", "Revoked by its owner"
        IT_STAFF = "it_staff", "Revoked by IT staff"
        DEACTIVATED = "deactivated", "Account deactivated"
        TOKEN_RESET = "token_reset", "Tokens reset by IT staff"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="app_passwords")
    # The laptop, phone or tablet whose mail program uses it (accounts.models.devices).
    device = models.ForeignKey("accounts.Device", on_delete=models.CASCADE, related_name="app_passwords")
    name = models.CharField(max_length=64, help_text="The device and program, e.g. “Outlook on laptop”.")
    can_read = models.BooleanField("read mail (IMAP, POP3)", default=True)
    can_send = models.BooleanField("send mail (SMTP)", default=True)
    # HMAC-SHA256(salt, secret), both hex; the secret itself is never stored.
    salt = models.CharField(max_length=32)
    digest = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    created_ip = models.GenericIPAddressField(null=True, blank=True)
    # Written by the verifier: first use once, last use at most once a minute.
    first_used_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_service = models.CharField(max_length=16, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspended_reason = models.CharField(max_length=200, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_reason = models.CharField(max_length=20, choices=RevokeReason.choices, blank=True)

    objects = AppPasswordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "state"])]
        constraints = [
            models.CheckConstraint(condition=Q(can_read=True) | Q(can_send=True), name="app_password_has_a_scope"),
        ]

    def __str__(self) -> str:
        return f"app password “{self.name}” of {self.user_id} ({self.state})"

    @property
    def scope_label(self) -> str:
        if self.can_read and self.can_send:
            return "Read and send"
        return "Read only" if self.can_read else "Send only"

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE

    def revoke(self, *, reason: str, by: object = None) -> bool:
        """Revoke once (from active or suspended); False when it was already revoked."""
        now = timezone.now()
        done = (
            AppPassword.objects.usable()
            .filter(pk=self.pk)
            .update(state=self.State.REVOKED, revoked_at=now, revoked_reason=reason, revoked_by=by)
        )
        if done:
            self.state, self.revoked_at, self.revoked_reason, self.revoked_by = self.State.REVOKED, now, reason, by
            MailAuthState.bump()
        return bool(done)

    def suspend(self, *, reason: str) -> bool:
        """Active -> suspended (no more sending; reading goes on; it can be reinstated); False otherwise."""
        now = timezone.now()
        done = AppPassword.objects.filter(pk=self.pk, state=self.State.ACTIVE).update(
            state=self.State.SUSPENDED, suspended_at=now, suspended_reason=reason[:200]
        )
        if done:
            self.state, self.suspended_at, self.suspended_reason = self.State.SUSPENDED, now, reason[:200]
            MailAuthState.bump()
        return bool(done)

    def reinstate(self) -> bool:
        """Suspended -> active; False when it was not suspended (a revoked password stays revoked)."""
        done = AppPassword.objects.filter(pk=self.pk, state=self.State.SUSPENDED).update(
            state=self.State.ACTIVE, suspended_at=None, suspended_reason=""
        )
        if done:
            self.state, self.suspended_at, self.suspended_reason = self.State.ACTIVE, None, ""
            MailAuthState.bump()
        return bool(done)


def fresh_version() -> int:
    """A new row's version starts from the clock, never from 0: after a restore or a test database flush
    the verifier must not mistake a new small version for the one it already serves."""
    return time.time_ns() // 1000


class MailAuthState(Singleton):
    """The change counter the verifier polls, and the verifier's own heartbeat."""

    version = models.BigIntegerField(default=fresh_version)
    changed_at = models.DateTimeField(default=timezone.now)
    # Written by the verifier about every 30 seconds (mail_auth_server).
    verifier_seen_at = models.DateTimeField(null=True, blank=True)
    verifier_version = models.BigIntegerField(null=True, blank=True)
    verifier_host = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "mail login verifier state"

    def __str__(self) -> str:
        return f"mail auth version {self.version}"

    @classmethod
    def bump(cls) -> None:
        """Tell the verifier that something it serves changed (call inside the changing transaction)."""
        cls.store(version=F("version") + 1, changed_at=timezone.now())

    @classmethod
    def current_version(cls) -> int:
        """The version now, without creating the row (0 when there is none yet)."""
        return cls.objects.filter(pk=cls.SINGLETON_PK).values_list("version", flat=True).first() or 0


class MailLoginSummary(models.Model):
    """What the verifier saw of one person's mail logins, written in batches (at most once a minute each)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="mail_logins"
    )
    mailbox_password_last_used_at = models.DateTimeField(null=True, blank=True, db_index=True)
    mailbox_password_last_service = models.CharField(max_length=16, blank=True)
    mailbox_password_last_ip = models.GenericIPAddressField(null=True, blank=True)
    mailbox_password_logins = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    refused_last_at = models.DateTimeField(null=True, blank=True)
    refused_last_ip = models.GenericIPAddressField(null=True, blank=True)
    refused_last_reason = models.CharField(max_length=80, blank=True)

    class Meta:
        verbose_name_plural = "mail login summaries"

    def __str__(self) -> str:
        return f"mail logins of {self.user_id}"
