"""What ends a person's access: the one place that deactivation, a password change and deletion go through.

``account_deactivated(user)`` runs however the account was deactivated (the user page, the Django admin,
a shell ``save()``): a ``post_save`` receiver for ``User`` (``accounts.signals``) sees ``is_active`` go
from True to False and calls it. It

- deletes every portal session of the person (database row and ``cached_db`` cache entry), including a
  session that is between the password and the code step, so webmail (``/gateway/auth``) refuses at once;
- raises ``User.session_generation``, which is part of the session hash: a session that escaped the
  deletion (a request that re-cached it at that very moment) no longer matches, now or after reactivation;
- marks the person's open webmail sessions ended (``deactivated``) and drops the gateway's cached facts.

App passwords for mail programs (IMAP/SMTP) and the client certificates of the person's devices are
revoked here too, so that no deactivation path (nor a leaver) can forget them.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import app_passwords, gateway
from accounts.devices import inventory
from accounts.models import AppPassword, User, WebmailSession


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def _owner(data: dict) -> str | None:
    """The user id a session belongs to: signed in, or between the password and the code step."""
    if SESSION_KEY in data:
        return str(data[SESSION_KEY])
    pending = data.get("otp_pending")
    return str(pending.get("user_id")) if isinstance(pending, dict) else None


def session_keys(user_id: int) -> list[str]:
    """Keys of the live portal sessions of ``user_id`` (scans the unexpired session rows: sessions are few)."""
    store = _session_store()
    rows = store.get_model_class().objects.filter(expire_date__gt=timezone.now())
    decoder = store()
    wanted = str(user_id)
    return [
        row.session_key
        for row in rows.only("session_key", "session_data").iterator(chunk_size=500)
        if _owner(decoder.decode(row.session_data)) == wanted
    ]


def end_sessions(user_id: int, *, reason: str, keep: str | None = None) -> int:
    """End the portal sessions of ``user_id`` (but ``keep``), database and cache, and their webmail sessions."""
    store = _session_store()
    keys = [key for key in session_keys(user_id) if key != keep]
    for key in keys:
        store(session_key=key).delete()
    open_webmail = WebmailSession.objects.filter(user_id=user_id, ended_at__isnull=True)
    if keep:
        open_webmail = open_webmail.exclude(session_key=keep)
    open_webmail.update(ended_at=timezone.now(), end_reason=reason)
    gateway.forget_user(user_id)
    return len(keys)


def _end_sessions_now_and_after_commit(user_id: int, reason: str, keep: str | None = None) -> None:
    end_sessions(user_id, reason=reason, keep=keep)
    # A request that read a session before this transaction committed may have cached it again.
    transaction.on_commit(lambda: end_sessions(user_id, reason=reason, keep=keep))


def account_deactivated(user: User) -> None:
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.session_generation = User.objects.values_list("session_generation", flat=True).get(pk=user.pk)
    _end_sessions_now_and_after_commit(user.pk, WebmailSession.EndReason.DEACTIVATED)
    # Mail programs too: every app password goes (the leaver procedure is deactivating the account).
    app_passwords.revoke_all(user, reason=AppPassword.RevokeReason.DEACTIVATED)
    # And every device certificate (into the CRL within a minute; the gateway refuses them at once).
    inventory.deactivated(user)


def password_changed(user: User, *, keep: str | None = None) -> None:
    """A new password: every other session of the person ends (``keep`` is the session that changed it)."""
    _end_sessions_now_and_after_commit(user.pk, WebmailSession.EndReason.PASSWORD_CHANGED, keep=keep)


def account_deleted(user_id: int) -> None:
    # Sessions of a deleted user are dead already (no user to load); delete them so that nothing lingers.
    end_sessions(user_id, reason=WebmailSession.EndReason.DEACTIVATED)
