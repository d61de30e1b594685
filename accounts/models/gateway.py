"""Webmail gateway sessions (nginx auth_request): one row per portal session that opened webmail.

A row is written on a session's first pass through ``/gateway/auth`` (not on
every request; see ``accounts.gateway``). It is what IT staff see as "recent
webmail sessions" and what they end. The signal receivers at the bottom keep
the gateway's cached user facts honest: saving or deleting a user or an OTP
device drops them, so deactivation and token resets take effect on the next
webmail request.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django_otp.models import Device

__all__ = ["WebmailSession"]


class WebmailSession(models.Model):
    class EndReason(models.TextChoices):
        SIGNED_OUT = "signed_out", "Signed out"
        ENDED_BY_STAFF = "ended_by_staff", "Ended by IT staff"
        DEACTIVATED = "deactivated", "User deactivated"
        TOKEN_RESET = "token_reset", "Token reset"

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="webmail_sessions")
    # The portal session's current key: needed to end it. Django's own session table holds the same value.
    session_key = models.CharField(max_length=40, unique=True)
    # The OTP device (django-otp persistent id) that verified the session.
    device_id = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    otp_verified_at = models.DateTimeField()
    # As nginx reported it (X-Real-IP); informational only.
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


def _end_open_sessions(queryset: models.QuerySet, reason: str) -> None:
    queryset.filter(ended_at__isnull=True).update(ended_at=timezone.now(), end_reason=reason)


@receiver(post_save)
@receiver(post_delete)
def _forget_gateway_facts(sender: type, instance: object, **kwargs: object) -> None:
    """A user or OTP device changed: drop the gateway's cached facts about that user (now and after commit)."""
    from accounts import gateway
    from accounts.models.users import User

    if isinstance(instance, User):
        user_id = instance.pk
        if not instance.is_active and kwargs.get("signal") is post_save:
            _end_open_sessions(WebmailSession.objects.filter(user_id=user_id), WebmailSession.EndReason.DEACTIVATED)
    elif isinstance(instance, Device):
        user_id = instance.user_id
        if kwargs.get("signal") is post_delete or not instance.confirmed:
            _end_open_sessions(
                WebmailSession.objects.filter(device_id=instance.persistent_id), WebmailSession.EndReason.TOKEN_RESET
            )
    else:
        return
    gateway.forget_user(user_id)
    # A request that read the database before this transaction committed may cache the old facts again.
    transaction.on_commit(lambda: gateway.forget_user(user_id))


@receiver(user_logged_out)
def _record_sign_out(sender: type, request: object, user: object, **kwargs: object) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        _end_open_sessions(WebmailSession.objects.filter(session_key=session_key), WebmailSession.EndReason.SIGNED_OUT)
