"""The accounts part of the home page."""

from __future__ import annotations

from django.http import HttpRequest

from accounts import backup_codes, enrolment, lockout
from accounts.coverage import otp_coverage
from accounts.models import User
from accounts.roles import Role


def home_context(request: HttpRequest) -> dict:
    user = request.user
    ctx: dict = {
        "user": user,
        "token_count": enrolment.confirmed_tokens(user).count(),
        "backup_remaining": backup_codes.remaining(user),
    }
    if user.can("manage_users"):
        ctx["user_counts"] = {
            label: User.objects.filter(role=value, is_active=True).count() for value, label in Role.choices
        }
        ctx["coverage"] = otp_coverage()
        ctx["locks"] = len(lockout.current_locks())
    return ctx
