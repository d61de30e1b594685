"""An email backend standing in for an HTTP mail API that answers with an error (not SMTP, so no commit point)."""

from __future__ import annotations

from django.core.mail.backends.base import BaseEmailBackend


class APIError(Exception):
    pass


class FailingAPIBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        raise APIError("503 Service Unavailable from the mail API")
