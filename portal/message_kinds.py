"""What each kind of outgoing message is, in words for the Outgoing messages page ("One-time code reused").

A kind is the name of a message's templates (``templates/emails/<kind>-subject.txt``), passed to
``portal.outbox`` by the apps' ``emails.py``. Every kind has a line here; tests/portal/test_message_kinds.py
reads the code for the kinds it sends and the templates for the kinds there are, and fails on one without words.
"""

from __future__ import annotations

KIND_WORDS: dict[str, str] = {
    # To a person about their own account ("... : IT alert" is the same news told to IT)
    "accounts-invitation": "Invitation",
    "accounts-password-reset": "Password reset link",
    "accounts-token-reset": "Sign-in tokens reset by IT staff",
    "accounts-credentials-changed": "Sign-in details changed",
    "accounts-otp-reuse": "One-time code reused",
    "accounts-otp-reuse-alert": "One-time code reused: IT alert",
    "accounts-account-locked": "Account locked",
    "accounts-lockout": "Sign-in locked: IT alert",
    "accounts-wrong-codes": "Wrong codes after the right password",
    "accounts-wrong-codes-alert": "Wrong codes after the right password: IT alert",
    "accounts-overdue": "People overdue for enrolment: IT alert",
    "accounts-mail-refusals": "Refused mail program logins: IT alert",
    "accounts-mailbox-password-reminder": "Mail program needs an app password",
    "accounts-device-certificate-expiring": "Company certificate ending soon",
    # Policies (campaign reminders themselves are counted on each campaign's page)
    "policies-campaign": "Campaign test",
    "policies-review-digest": "Reviews due",
    "policies-monthly-summary": "Monthly security summary",
    # Alert channels
    "portal-channel-test": "Alert channel test",
    # Monitoring
    "monitoring-dnsbl-alert": "Block-list changes: IT alert",
    "monitoring-load-raised": "Server load raised: IT alert",
    "monitoring-load-cleared": "Server load back to normal: IT alert",
    "monitoring-mail-down": "Mail service down: IT alert",
    "monitoring-mail-back": "Mail service back: IT alert",
    "monitoring-drift-findings": "Configuration not as approved: IT alert",
    # Sending guard
    "sending-soft-mark": "Near the sending limit: IT alert",
    "sending-limit-reached": "Sending limit reached: IT alert",
    "sending-suspended": "Sending suspended: IT alert",
    "sending-suspended-notice": "Sending suspended",
    "sending-lifted": "Sending allowed again",
}


def kind_words(kind: str) -> str:
    """The words for ``kind``; a kind this table does not know (an old row) reads as itself."""
    return KIND_WORDS.get(kind, kind)
