"""App passwords: create one (the secret is shown once), revoke one or all, and the per-person limit.

Views and the signal receivers call these; every change is audited and bumps the verifier's
version (``MailAuthState``) in the same transaction, so the verifier sees it within a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.mailauth import passwords
from accounts.models import AppPassword, Device, MailAuthState, OrganisationSettings, User


class LimitReached(Exception):
    """The person already has as many app passwords as the organisation allows."""


@dataclass(frozen=True)
class Created:
    password: AppPassword
    secret: str  # shown once, never stored


def usable_count(user: User) -> int:
    return AppPassword.objects.usable().filter(user=user).count()


def limit_for(user: User) -> int:
    return OrganisationSettings.load().app_passwords_per_user


@transaction.atomic
def create(user: User, *, name: str, can_read: bool, can_send: bool, device: Device | None = None,
           request=None) -> Created:  # fmt: skip
    """A new active app password for ``user`` on ``device`` (a new device named after it when none is
    given); ``LimitReached`` when they have the maximum already."""
    if not (can_read or can_send):
        raise ValueError("an app password must be allowed to read or to send mail")
    # Lock the person's row: two tabs creating at once must not both pass the limit.
    User.objects.select_for_update().filter(pk=user.pk).first()
    limit = limit_for(user)
    if usable_count(user) >= limit:
        raise LimitReached(limit)
    if device is None:
        from accounts.devices.inventory import app_password_device

        device = app_password_device(user, name)
    elif device.user_id != user.pk or not device.is_active:
        raise ValueError("an app password belongs to a device in use by the same person")
    secret = passwords.generate()
    salt = passwords.new_salt()
    app_password = AppPassword.objects.create(
        user=user,
        device=device,
        name=name.strip(),
        can_read=can_read,
        can_send=can_send,
        salt=salt.hex(),
        digest=passwords.digest(salt, passwords.normalise(secret) or "").hex(),
        created_ip=audit.client_ip(request),
    )
    audit.record(
        "app_password.created",
        actor=user,
        target=user.email,
        request=request,
        app_password=app_password.pk,
        name=app_password.name,
        scope=app_password.scope_label,
        device=device.pk,
    )
    return Created(app_password, secret)


def revoke(app_password: AppPassword, *, by: User | None, reason: str, request=None) -> bool:
    """Revoke one app password (audited once); False when it was already revoked."""
    with transaction.atomic():
        if not app_password.revoke(reason=reason, by=by):
            return False
        audit.record(
            "app_password.revoked",
            actor=by,
            target=app_password.user.email,
            request=request,
            app_password=app_password.pk,
            name=app_password.name,
            reason=reason,
        )
    return True


def revoke_all(user: User, *, reason: str, by: User | None = None, request=None) -> int:
    """Revoke every app password of ``user`` (deactivation, token reset, leaver); the number revoked."""
    with transaction.atomic():
        ids = list(AppPassword.objects.usable().filter(user=user).values_list("pk", flat=True))
        if not ids:
            return 0
        revoked = (
            AppPassword.objects.usable()
            .filter(pk__in=ids)
            .update(state=AppPassword.State.REVOKED, revoked_at=timezone.now(), revoked_reason=reason, revoked_by=by)
        )
        if revoked:
            MailAuthState.bump()
            audit.record(
                "app_password.revoked_all",
                actor=by,
                target=user.email,
                request=request,
                count=revoked,
                reason=reason,
            )
    return revoked


def suspend_sending(user: User, *, reason: str, by: User | None = None) -> int:
    """Stop ``user``'s app passwords from sending mail (the sending guard's answer to a hijacked account).

    Every active password that may send is suspended: SMTP submission refuses it, IMAP and POP3 go on.
    Audited once; returns how many were suspended (0 when none could send)."""
    with transaction.atomic():
        rows = AppPassword.objects.filter(user=user, state=AppPassword.State.ACTIVE, can_send=True)
        suspended = [row.name for row in rows if row.suspend(reason=reason)]
        if suspended:
            audit.record("app_password.suspended", actor=by, target=user.email, names=suspended, reason=reason[:200])
    return len(suspended)


def reinstate_sending(user: User, *, by: User | None, reason: str = "", request=None) -> int:
    """Let ``user``'s suspended app passwords send again (IT staff, after dealing with the account).

    Audited with the reason; ``accounts.signals.sending_reinstated`` tells the apps that suspend sending
    (the sending guard closes its open suspension), whichever page it was done from."""
    from accounts.signals import sending_reinstated

    with transaction.atomic():
        rows = AppPassword.objects.filter(user=user, state=AppPassword.State.SUSPENDED)
        reinstated = [row.name for row in rows if row.reinstate()]
        if reinstated:
            audit.record(
                "app_password.reinstated", actor=by, target=user.email, request=request, names=reinstated,
                reason=reason[:300],
            )  # fmt: skip
        sending_reinstated.send(sender=User, user=user, by=by, reason=reason, request=request)
    return len(reinstated)


def revoke_for_inactive_users() -> int:
    """Safety net for the accounts tick: a user made inactive without ``save()`` still loses them."""
    total = 0
    stale = AppPassword.objects.usable().filter(user__is_active=False).values_list("user", flat=True).distinct()
    for user in User.objects.filter(pk__in=list(stale)):
        total += revoke_all(user, reason=AppPassword.RevokeReason.DEACTIVATED)
    return total


# --- the transition away from mailbox passwords ---------------------------------------------------

# "Still uses the mailbox password": the verifier saw a mailbox-password login this recently.
MAILBOX_RECENT = timedelta(days=30)
REMINDER_DAYS = (14, 7, 1)  # reminders this many days before the last accepted day


def mailbox_password_users(now=None):
    """Active people whose mail program logged in with the mailbox password in the last 30 days."""
    since = (now or timezone.now()) - MAILBOX_RECENT
    return (
        User.objects.filter(is_active=True, mail_logins__mailbox_password_last_used_at__gte=since)
        .select_related("mail_logins", "department")
        .order_by("email")
    )


def remind_mailbox_password_users(now=None) -> int:
    """Before the cut-off date, remind everyone who still uses their mailbox password (once per step)."""
    from accounts import emails

    org = OrganisationSettings.load()
    until = org.mailbox_passwords_until
    if org.mailbox_passwords != OrganisationSettings.MailboxPasswords.UNTIL or until is None:
        return 0
    days_left = (until - timezone.localdate(now)).days
    steps = [days for days in REMINDER_DAYS if 0 <= days_left <= days]
    if not steps:
        return 0
    sent = 0
    for user in mailbox_password_users(now):
        emails.send_mailbox_password_reminder(user, until=until, days_left=days_left, step=min(steps))
        sent += 1
    return sent


def mail_rule(now=None) -> dict:
    """The organisation's rule on mailbox passwords as people should read it today."""
    org = OrganisationSettings.load()
    mode = org.mailbox_passwords
    if mode == OrganisationSettings.MailboxPasswords.UNTIL and not org.mail_policy().mailbox_allowed(
        now or timezone.now()
    ):
        mode = OrganisationSettings.MailboxPasswords.REFUSED
    return {"mode": mode, "until": org.mailbox_passwords_until}


# --- what IT staff see -------------------------------------------------------------------------------


def mail_facts(user: User) -> dict:
    """App passwords and mail-login counts of one person, for the user page."""
    from accounts.models import MailLoginSummary

    rows = list(AppPassword.objects.filter(user=user).select_related("revoked_by"))
    return {
        "passwords": rows,
        "created": len(rows),
        "active": sum(row.state == AppPassword.State.ACTIVE for row in rows),
        "suspended": sum(row.state == AppPassword.State.SUSPENDED for row in rows),
        "revoked": sum(row.state == AppPassword.State.REVOKED for row in rows),
        "first_used": sum(row.first_used_at is not None for row in rows),
        "summary": MailLoginSummary.objects.filter(user=user).first(),
    }


def verifier_status(now=None) -> dict:
    """Whether the mail login verifier checked in recently and serves the current data (stored facts only)."""
    from accounts.models import MailAuthState

    state = MailAuthState.objects.filter(pk=1).first()
    now = now or timezone.now()
    seen = state.verifier_seen_at if state else None
    return {
        "seen_at": seen,
        "running": seen is not None and now - seen <= timedelta(minutes=2),
        "current": state is not None and state.verifier_version == state.version,
        "host": state.verifier_host if state else "",
    }
