"""Webmail gateway sessions (nginx auth_request): one row per portal session that opened webmail.

A row is written on a session's first pass through ``/gateway/auth`` (not on
every request; see ``accounts.gateway``). It is what IT staff see as "recent
webmail sessions" and what they end. The receivers in ``accounts.signals`` mark
rows ended on sign-out, deactivation, a password change and a token reset.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = ["WebmailSession"]


class WebmailSession(models.Model):
    class EndReason(models.TextChoices):
        SIGNED_OUT = "signed_out", "Signed out"
        ENDED_BY_STAFF = "ended_by_staff", "Ended by IT staff"
        DEACTIVATED = "deactivated", "User deactivated"
        TOKEN_RESET = "token_reset", "Token reset"
        PASSWORD_CHANGED = "password_changed", "Password changed"

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="webmail_sessions")
    # The portal session's current key: needed to end it. Django's own session table holds the same value.
    session_key = models.CharField(max_length=40, unique=True)
    # The OTP device (django-otp persistent id) that verified the session.
    device_id = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    otp_verified_at = models.DateTimeField()
    # The browser's address (accounts.client_address: the trusted-proxy rule), informational only.
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    ended_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["user", "started_at"])]

    def __str__(self) -> str:
        return f"webmail session of {self.user_id} from {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def expires_at(self) -> datetime:
        """When the gateway asks for the one-time password again."""
        return self.otp_verified_at + timedelta(seconds=settings.GATEWAY_MAX_AGE)

    @property
    def state(self) -> str:
        if self.ended_at:
            return "ended"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"

    @property
    def is_active(self) -> bool:
        return self.state == "active"

    def mark_ended(self, reason: str, by: object = None) -> bool:
        """Record the end once; False when it had already ended."""
        now = timezone.now()
        updated = WebmailSession.objects.filter(pk=self.pk, ended_at__isnull=True).update(
            ended_at=now, end_reason=reason, ended_by=by
        )
        if updated:
            self.ended_at, self.end_reason, self.ended_by = now, reason, by
        return bool(updated)
