"""Invitations: a single-use, expiring link to set a password and enrol.

The link carries 256 random bits; only their SHA-256 is stored, so the table alone
does not let anyone accept an invitation. Sending a new invitation revokes the open ones.
"""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from accounts import audit, emails
from accounts.models import Invitation, OrganisationSettings, User


@transaction.atomic
def invite(user: User, *, actor: User | None, request=None) -> tuple[Invitation, str]:
    """Create (or replace) the user's invitation and queue its email. Returns the invitation and the token."""
    now = timezone.now()
    resent = Invitation.objects.usable().filter(user=user).update(revoked_at=now) > 0
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        user=user,
        token_hash=Invitation.hash_token(token),
        created_by=actor,
        created_at=now,
        expires_at=now + OrganisationSettings.load().invitation_lifetime,
    )
    emails.send_invitation(invitation, token)
    audit.record(
        "invitation.resent" if resent else "invitation.sent",
        actor=actor,
        target=user.email,
        request=request,
        expires_at=invitation.expires_at.isoformat(),
    )
    return invitation, token


@transaction.atomic
def invite_many(users: list[User], *, actor: User | None, request=None) -> list[Invitation]:
    """Invitations for many new users at once (CSV import): bulk rows, one audit event, one send task."""
    now = timezone.now()
    expires_at = now + OrganisationSettings.load().invitation_lifetime
    tokens = [secrets.token_urlsafe(32) for _ in users]
    rows = [
        Invitation(
            user=user, token_hash=Invitation.hash_token(token), created_by=actor, created_at=now, expires_at=expires_at
        )
        for user, token in zip(users, tokens, strict=True)
    ]
    Invitation.objects.bulk_create(rows, batch_size=500)
    emails.send_invitations(zip(rows, tokens, strict=True))
    audit.record("invitation.sent", actor=actor, target=f"{len(rows)} imported users", request=request, count=len(rows))
    return rows


def find(token: str) -> Invitation | None:
    """The usable invitation behind ``token``; None for unknown, tampered, used, revoked or expired links."""
    if not token or len(token) > 100:
        return None
    invitation = Invitation.objects.select_related("user").filter(token_hash=Invitation.hash_token(token)).first()
    if invitation is None or not invitation.is_usable() or not invitation.user.is_active:
        return None
    return invitation


def accept(invitation: Invitation, request=None) -> bool:
    """Mark the invitation used; False when another request used it first (single use)."""
    used = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
        accepted_at=timezone.now()
    )
    if used:
        audit.record("invitation.accepted", actor=invitation.user, target=invitation.user.email, request=request)
    return bool(used)


def revoke(invitation: Invitation, *, actor: User, request=None) -> bool:
    revoked = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        audit.record("invitation.revoked", actor=actor, target=invitation.user.email, request=request)
    return bool(revoked)
