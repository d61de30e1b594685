"""Backup codes: ten one-time codes, shown once, stored only as salted PBKDF2 hashes."""

from __future__ import annotations

import secrets

from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import transaction

from accounts import audit
from accounts.models import BackupCode, BackupCodeDevice, User
from accounts.models.otp import BACKUP_CODE_ITERATIONS

COUNT = 10
# No 0/O, 1/I/L: codes are read from paper. 31 symbols x 10 = about 50 random bits.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
LENGTH = 10


def normalise(code: str) -> str:
    """What people type: spaces, dashes and capitals do not matter."""
    return "".join(ch for ch in code.lower() if ch.isalnum())


def formatted(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def hash_code(code: str) -> str:
    hasher = PBKDF2PasswordHasher()
    return hasher.encode(normalise(code), hasher.salt(), iterations=BACKUP_CODE_ITERATIONS)


def device_for(user: User) -> BackupCodeDevice | None:
    return BackupCodeDevice.objects.filter(user=user, confirmed=True).first()


def remaining(user: User) -> int:
    return BackupCode.objects.filter(device__user=user, device__confirmed=True, used_at__isnull=True).count()


@transaction.atomic
def regenerate(user: User, request=None, *, notify: bool = False) -> list[str]:
    """Replace the user's backup codes with ten new ones; returns them (the only time they exist in clear).

    ``notify``: also tell the user by email (a new set replacing one they had, not the first at enrolment).
    """
    BackupCodeDevice.objects.filter(user=user).delete()
    device = BackupCodeDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)]
    BackupCode.objects.bulk_create(BackupCode(device=device, code_hash=hash_code(code)) for code in codes)
    event = audit.record("otp.backup_codes_generated", actor=user, target=user.email, request=request, count=COUNT)
    if notify:
        from accounts import emails

        emails.send_credentials_changed(user, "new backup codes were made", event)
    return [formatted(code) for code in codes]
