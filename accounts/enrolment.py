"""TOTP tokens: enrol (unconfirmed until a code verifies), show as QR code and text, remove, reset by IT staff."""

from __future__ import annotations

import base64
from datetime import datetime

import qrcode
import qrcode.image.svg
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import audit, coverage
from accounts.models import AuditEvent, BackupCodeDevice, OrganisationSettings, User


def otp_required(user: User) -> bool:
    """Whether ``user`` must have a token (IT staff always; see ``accounts.coverage``)."""
    return coverage.otp_required_for(user.role, OrganisationSettings.load())


def confirmed_tokens(user: User):
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("created_at", "id")


def has_confirmed_token(user: User) -> bool:
    return confirmed_tokens(user).exists()


def otp_status(user: User, enrolled: bool | None = None, now: datetime | None = None) -> str:
    """none (no token required, none held), pending (inside the grace period), overdue, or enrolled."""
    if enrolled is None:
        enrolled = has_confirmed_token(user)
    org = OrganisationSettings.load()
    return coverage.status(enrolled=enrolled, role=user.role, grace_start=user.otp_grace_start, org=org, now=now)


def notify_overdue() -> list[User]:
    """Tell IT staff once about each user who passed the enrolment deadline (claimed per user)."""
    org = OrganisationSettings.load()
    now = timezone.now()
    candidates = User.objects.filter(is_active=True, otp_overdue_notified_at__isnull=True).filter(
        coverage.status_filter("overdue", org, now)
    )
    claimed = [
        user
        for user in candidates
        if User.objects.filter(pk=user.pk, otp_overdue_notified_at__isnull=True).update(otp_overdue_notified_at=now)
    ]
    if claimed:
        from accounts import emails

        emails.send_overdue_notice(claimed)
    return claimed


def start_enrolment(user: User, name: str) -> TOTPDevice:
    """A fresh unconfirmed token; an earlier unfinished one of this user is thrown away."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=name.strip() or "Authenticator", confirmed=False)


def pending_token(user: User, device_id: int | None) -> TOTPDevice | None:
    if not device_id:
        return None
    return TOTPDevice.objects.filter(user=user, pk=device_id, confirmed=False).first()


def base32_key(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode("ascii").rstrip("=")


def key_groups(device: TOTPDevice) -> list[str]:
    """The key in groups of four characters, for people who type it into their app."""
    key = base32_key(device)
    return [key[i : i + 4] for i in range(0, len(key), 4)]


def qr_svg(device: TOTPDevice) -> str:
    """An inline SVG of the otpauth:// URL (issuer = organisation, account = email)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg = image.to_string(encoding="unicode")
    # Sized by CSS; the fixed mm size of the library would not scale on phones.
    return svg.replace("<svg ", '<svg class="qr-code" role="img" aria-label="QR code for your authenticator app" ', 1)


def confirm_token(device: TOTPDevice, code: str, request=None) -> AuditEvent | None:
    """Confirm the token when ``code`` verifies against it (the code then counts as used); its audit event."""
    code = "".join(code.split())
    if not code.isdigit() or not device.verify_token(code):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return audit.record("otp.enrolled", actor=device.user, target=device.user.email, request=request, token=device.name)


def remove_token(device: TOTPDevice, request=None) -> AuditEvent:
    user = device.user
    name = device.name
    device.delete()
    return audit.record("otp.token_removed", target=user.email, request=request, token=name)


@transaction.atomic
def reset_tokens(user: User, *, actor: User, reason: str, request=None) -> int:
    """IT staff reset: every token and backup code of ``user`` goes; the user must enrol again.

    Deleting the devices also ends OTP verification of every existing session at once
    (django-otp's middleware finds no device behind the session's device id).
    """
    removed, _ = TOTPDevice.objects.filter(user=user).delete()
    BackupCodeDevice.objects.filter(user=user).delete()
    # The grace period starts again: enrolling at the next sign-in is expected, not overdue.
    User.objects.filter(pk=user.pk).update(otp_grace_start=timezone.now(), otp_overdue_notified_at=None)
    event = audit.record("otp.reset", actor=actor, target=user.email, request=request, reason=reason, tokens=removed)
    from accounts import emails

    emails.send_token_reset_notice(user, actor=actor, reason=reason, event=event)
    return removed
