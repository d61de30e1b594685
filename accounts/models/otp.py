"""OTP tokens, hashed backup codes, invitations, lockout and organisation sign-in settings."""

from __future__ import annotations

__all__: list[str] = []
