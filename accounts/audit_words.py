"""What each audit action means, in words for the audit log page ("Code refused: too many attempts").

Every action written with ``accounts.audit.record`` has a line here; tests/accounts/test_audit_words.py
reads the code for the actions it records and fails on one without words.
"""

from __future__ import annotations

ACTION_WORDS: dict[str, str] = {
    # Signing in
    "login.success": "Signed in",
    "login.failure": "Sign-in refused: wrong email or password",
    "login.throttled": "Sign-in refused: too many attempts, asked to wait",
    "login.blocked": "Sign-in refused: account locked",
    "login.lockout": "Account locked after wrong passwords",
    "login.lockout_lifted": "Account lock lifted",
    "logout": "Signed out",
    "reauth.failure": "Password confirmation refused: wrong password",
    # One-time codes
    "otp.enrolled": "Authenticator token added",
    "otp.enrol_failure": "Token not added: the code did not match",
    "otp.failure": "Code refused: wrong code",
    "otp.throttled": "Code refused: too many attempts",
    "otp.reuse": "Code refused: already used",
    "otp.backup_code_used": "Signed in with a backup code",
    "otp.backup_codes_generated": "New backup codes made",
    "otp.token_removed": "Authenticator token removed",
    "otp.reset": "Tokens reset by IT staff",
    # Passwords
    "password.changed": "Password changed",
    "password.change_failure": "Password not changed: wrong current password",
    "password.reset_requested": "Password reset requested",
    "password.reset": "Password reset by email link",
    # People and invitations
    "user.created": "User created",
    "user.role_changed": "Role changed",
    "user.activated": "Account reactivated",
    "user.deactivated": "Account deactivated",
    "users.imported": "Users imported from CSV",
    "invitation.sent": "Invitation sent",
    "invitation.resent": "Invitation sent again",
    "invitation.accepted": "Invitation accepted",
    "invitation.revoked": "Invitation withdrawn",
    "invitation.invalid_link": "Invitation link refused: expired or already used",
    "settings.sign_in_changed": "Sign-in settings changed",
    "settings.devices_changed": "Device settings changed",
    "audit.exported": "Audit log exported",
    # Devices, app passwords, certificates
    "device.added": "Device added",
    "device.revoked": "Device removed",
    "device.profile_downloaded": "Apple mail profile downloaded",
    "app_password.created": "App password made",
    "app_password.first_use": "App password used for the first time",
    "app_password.revoked": "App password revoked",
    "app_password.revoked_all": "All app passwords revoked",
    "app_password.suspended": "App passwords suspended",
    "app_password.reinstated": "App passwords reinstated",
    "device_certificate.issued": "Company certificate issued",
    "device_certificate.downloaded": "Company certificate downloaded",
    "device_certificate.refused": "Certificate download refused: wrong one-time password",
    "device_certificate.revoked": "Company certificate revoked",
    "device_certificate.revoked_all": "All company certificates revoked",
    "device_certificate.suspended": "Company certificates suspended",
    "device_certificate.reinstated": "Company certificates reinstated",
    "device_ca.created": "Devices CA created",
    "device_ca.rotated": "Devices CA rotated",
    "device_ca.retired": "Old devices CA retired",
    # Webmail and mail programs
    "gateway.first_pass": "Webmail opened after the code step",
    "gateway.session_ended": "Webmail session ended by IT staff",
    "mail_auth.refused": "Mail program login refused",
    "mail_auth.refused_unlisted": "Further mail program logins refused (counted, not listed)",
    "mail_auth.refusal_alert": "IT alerted: many refused mail program logins",
    # Policies and campaigns
    "policy.published": "Policy published",
    "policy.retired": "Policy retired",
    "policy.reviewed": "Policy review recorded",
    "policy.acknowledged": "Policy acknowledged",
    "procedure.completed": "Procedure completed",
    "campaign.attested": "Attestation answered",
    "campaign.send_now": "Campaign sent now",
    "campaign.test_sent": "Campaign test sent",
    "campaign.retry_failed": "Failed campaign emails retried",
    # Messages and alert channels
    "outbox.retried": "Message sent again",
    "channel.added": "Alert channel added",
    "channel.changed": "Alert channel changed",
    "channel.enabled": "Alert channel switched on",
    "channel.disabled": "Alert channel switched off",
    "channel.removed": "Alert channel removed",
    "channel.tested": "Alert channel tested",
    # Monitoring
    "dnsbl.sweep_requested": "Block-list check started by hand",
    "dnsbl.check_requested": "New address checked against the block lists",
    "dnsbl.schedule_changed": "Block-list schedule changed",
    "dnsbl.zone_saved": "Block list added or changed",
    "dnsbl.address_added": "Address added to block-list watch",
    "dnsbl.address_removed": "Address removed from block-list watch",
    "dnsbl.address_toggled": "Address watch switched on or off",
    "load.settings_changed": "Server load settings changed",
    "drift.check_requested": "Configuration check started by hand",
    "drift.baseline_approved": "Configuration change approved",
    # Sending guard
    "sending.settings_changed": "Sending settings changed",
    "sending.limits_changed": "Sending limits changed",
    "sending.soft_mark": "Sending: soft mark reached",
    "sending.limit_reached": "Sending: limit reached, mail deferred",
    "sending.deferred": "Sending: mail deferred",
    "sending.refused": "Sending: mail refused",
    "sending.refused_unlisted": "Sending: further refusals (counted, not listed)",
    "sending.relay_attempts": "Relay attempts refused",
    "sending.malformed_requests": "Sending guard: malformed requests from the mail server",
    "sending.suspended": "Sending suspended",
    "sending.suspension_lifted": "Sending suspension lifted",
    "sending.alias_added": "Sender alias added",
    "sending.alias_removed": "Sender alias removed",
    "sending.shared_mailbox_added": "Shared mailbox added",
    "sending.shared_mailbox_changed": "Shared mailbox changed",
    "sending.shared_mailbox_removed": "Shared mailbox removed",
}


def action_words(action: str) -> str:
    """The words for ``action``; an action this table does not know (an old row) reads as itself."""
    return ACTION_WORDS.get(action, action)
