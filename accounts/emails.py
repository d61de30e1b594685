"""The accounts area's messages: one function per kind, each a few lines calling the outbox (portal.outbox).

Content lives in ``templates/emails/accounts-<kind>-subject.txt``, ``-body.txt`` and ``-body.html``. Keys
come from the event a message is about (an invitation, an audit event, a reset token, a replayed code),
so the same event never sends two messages.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from portal.outbox import absolute_url, alert_it, email_row, queue, send_email


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def invitation_row(invitation, token: str):
    """The invitation email as an unsaved outbox row (many at once for a CSV import: ``send_invitations``)."""
    context = {
        "user": invitation.user,
        "link": absolute_url("invitation_accept", token=token),
        "expires_at": invitation.expires_at,
        "inviter": invitation.created_by,
    }
    key = f"accounts.invitation:{invitation.pk}"
    return email_row("accounts-invitation", key, [invitation.user.email], context, sensitive=True)


def send_invitation(invitation, token: str):
    return queue([invitation_row(invitation, token)])[0]


def send_invitations(pairs) -> None:
    """Invitation emails for many (invitation, token) pairs: one insert and one send task per batch."""
    queue([invitation_row(invitation, token) for invitation, token in pairs])


def send_password_reset(user, uidb64: str, token: str, *, request_id: int):
    """One email per reset request (``PasswordResetRequest``), which the hourly limit has let through."""
    link = absolute_url("password_reset_confirm", uidb64=uidb64, token=token)
    key = f"accounts.password-reset:{user.pk}:{request_id}"
    return send_email("accounts-password-reset", key, [user.email], {"user": user, "link": link}, sensitive=True)


def send_token_reset_notice(user, *, actor, reason: str, event):
    context = {"user": user, "actor": actor, "reason": reason, "when": event.created_at, "link": absolute_url("home")}
    return send_email("accounts-token-reset", f"accounts.token-reset:{user.pk}:{event.pk}", [user.email], context)


def send_credentials_changed(user, what: str, event):
    """Tell the user that their password or tokens changed, so that a change they did not make stands out."""
    context = {
        "user": user,
        "what": what,
        "when": event.created_at,
        "ip": event.ip_address or "unknown",
        "link": absolute_url("password_reset"),
    }
    key = f"accounts.credentials-changed:{user.pk}:{event.pk}"
    return send_email("accounts-credentials-changed", key, [user.email], context)


def send_otp_reuse_alert(user, *, device, time_step: int, ip: str | None, when):
    """The user and IT staff hear once per replayed code (token and time step), however often it is tried."""
    context = {"user": user, "device_name": device.name, "ip": ip or "unknown", "when": when}
    about = f"{user.pk}:{device.pk}:{time_step}"
    notice = send_email("accounts-otp-reuse", f"accounts.otp-reuse:{about}", [user.email], context)
    alert = {**context, "link": absolute_url("audit_log")}
    alert_it("accounts-otp-reuse-alert", f"accounts.otp-reuse-alert:{about}", "warning", alert)
    return notice


def send_lockout_alert(event, *, ip: str | None, account_failures: int, network: str, window_minutes: int):
    context = {
        "event": event,
        "target": event.target,
        "ip": ip or "unknown",
        "network": network or "unknown",
        "account_failures": account_failures,
        "window_minutes": window_minutes,
        "link": absolute_url("lockouts"),
    }
    return alert_it("accounts-lockout", f"accounts.lockout:{event.pk}", "warning", context)


def send_account_locked(user, event, *, ip: str | None, locked_until):
    """Tell the person their account is locked, when it unlocks, and that a password reset unlocks it now."""
    context = {
        "user": user,
        "when": event.created_at,
        "failures": event.details.get("account_failures"),
        "ip": ip or "unknown",
        "locked_until": locked_until,
        "reset_link": absolute_url("password_reset"),
    }
    return send_email("accounts-account-locked", f"accounts.account-locked:{user.pk}:{event.pk}", [user.email], context)


def _wrong_codes_context(user, event, ip: str | None, failures: int) -> dict:
    return {"user": user, "when": event.created_at, "ip": ip or "unknown", "failures": failures}


def send_wrong_codes_notice(user, event, *, ip: str | None, failures: int):
    """Wrong codes after a correct password: the paper's stolen-password signal, to the person first."""
    context = {**_wrong_codes_context(user, event, ip, failures), "link": absolute_url("password_change")}
    key = f"accounts.wrong-codes:{user.pk}:{event.pk}"
    return send_email("accounts-wrong-codes", key, [user.email], context)


def send_wrong_codes_alert(user, event, *, ip: str | None, failures: int):
    context = {**_wrong_codes_context(user, event, ip, failures), "link": absolute_url("audit_log")}
    return alert_it(
        "accounts-wrong-codes-alert", f"accounts.wrong-codes-alert:{user.pk}:{event.pk}", "warning", context
    )


def send_overdue_notice(overdue: list) -> list:
    """Tell IT who has passed the enrolment deadline (the caller has claimed these users)."""
    if not overdue:
        return []
    # A user counts again after a token reset (a new grace start), so the pair names the event.
    about = _digest(",".join(f"{u.pk}@{u.otp_grace_start.isoformat()}" for u in sorted(overdue, key=lambda u: u.pk)))
    context = {"overdue": overdue, "link": absolute_url("otp_coverage")}
    return alert_it("accounts-overdue", f"accounts.overdue:{about}", "warning", context)


def send_mail_refusals_alert(alert):
    """Many refused mail logins (IMAP, POP3, SMTP) for one person within minutes: someone may be guessing.

    One alert per person and alert window (``alert.at`` in window-sized buckets), however often the
    verifier counts past the threshold or writes the same batch again.
    """
    from accounts.models import User

    person = User.objects.filter(pk=alert.user_id).first()
    window = int(alert.at // (alert.minutes * 60))
    context = {
        "email": alert.email,
        "count": alert.count,
        "minutes": alert.minutes,
        "addresses": alert.addresses,
        "when": datetime.fromtimestamp(alert.at, tz=UTC),
        "link": absolute_url("user_detail", pk=person.pk) if person else absolute_url("audit_log"),
    }
    return alert_it("accounts-mail-refusals", f"accounts.mail-refusals:{alert.user_id}:{window}", "warning", context)


def send_mailbox_password_reminder(user, *, until, days_left: int, step: int):
    """Mailbox passwords stop working in mail programs soon, and this person's program still uses theirs."""
    context = {"user": user, "until": until, "days_left": days_left, "link": absolute_url("devices")}
    key = f"accounts.mailbox-password-reminder:{user.pk}:{until.isoformat()}:{step}"
    return send_email("accounts-mailbox-password-reminder", key, [user.email], context)


def send_certificate_expiring(certificate, *, days_left: int, step: int):
    """A device certificate in use ends soon (30 and 7 days before): renew it on the device's page."""
    device = certificate.device
    context = {
        "user": device.user,
        "device": device,
        "certificate": certificate,
        "days_left": days_left,
        "link": absolute_url("device_detail", pk=device.pk),
    }
    key = f"accounts.device-certificate-expiring:{certificate.pk}:{step}"
    return send_email("accounts-device-certificate-expiring", key, [device.user.email], context)
