"""Accounts models, one module per area: people and the audit log, OTP, the webmail gateway, app passwords,
devices and their certificates."""

from accounts.models.app_passwords import *  # noqa: F403
from accounts.models.devices import *  # noqa: F403
from accounts.models.gateway import *  # noqa: F403
from accounts.models.otp import *  # noqa: F403
from accounts.models.users import AuditEvent, Department, User, UserManager

__all__ = ["AuditEvent", "Department", "User", "UserManager"]
