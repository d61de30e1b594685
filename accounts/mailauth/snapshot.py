"""Load the verifier's snapshot from the database, and tell which users changed between two snapshots.

The verifier calls ``load`` in its database thread when ``MailAuthState.version`` moved (and every few
minutes regardless, to catch changes made without ``save()``). The version is read *before* the
rows, so a change that commits in between is seen again at the next poll rather than missed.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.addresses import canonical
from accounts.mailauth.decision import REVOKED, PasswordFacts, Snapshot, UserFacts

log = logging.getLogger(__name__)

# Revoked passwords stay in memory this long, so a device still trying one is told "revoked", not "wrong".
REVOKED_KEPT = timedelta(days=90)


def mail_login(email: str) -> str:
    """The name the mail server knows a person by: the address in canonical form, or its local part."""
    address = canonical(email)
    return address.rsplit("@", 1)[0] if settings.MAIL_USERNAME == "localpart" else address


def login_names(email: str) -> set[str]:
    """Every name a person may type at login, in canonical form (what ``Snapshot.user_for`` looks up)."""
    address = canonical(email)
    names = {address}
    if settings.MAIL_USERNAME == "localpart":
        names.add(address.rsplit("@", 1)[0])
    return names


def load() -> Snapshot:
    from accounts.models import AppPassword, MailAuthState, OrganisationSettings, User

    version = MailAuthState.current_version()
    policy = OrganisationSettings.load().mail_policy()
    snapshot = Snapshot(version=version, policy=policy, loaded_at=time.time())
    taken: dict[str, int] = {}
    ambiguous: set[str] = set()
    for pk, email, active in User.objects.values_list("pk", "email", "is_active").iterator(chunk_size=5000):
        user = UserFacts(pk, email, active, mail_login(email))
        snapshot.users_by_id[pk] = user
        for name in login_names(email):
            if name in taken and taken[name] != pk:
                ambiguous.add(name)
            taken[name] = pk
            snapshot.users_by_login[name] = user
    for name in ambiguous:
        # Two people share a local part (erin@a.example, erin@b.example): only the full address works.
        snapshot.users_by_login.pop(name, None)
        log.warning("mail login name %r is ambiguous (several portal users); only full addresses work", name)
    rows = (
        AppPassword.objects.exclude(state=REVOKED, revoked_at__lt=timezone.now() - REVOKED_KEPT)
        .values_list("pk", "user_id", "name", "salt", "digest", "can_read", "can_send", "state", "first_used_at")
        .order_by("pk")
    )
    grouped: dict[int, list[PasswordFacts]] = {}
    for pk, user_id, name, salt, digest, can_read, can_send, state, first_used_at in rows.iterator(chunk_size=5000):
        grouped.setdefault(user_id, []).append(
            PasswordFacts(
                pk, user_id, name, bytes.fromhex(salt), bytes.fromhex(digest), can_read, can_send, state,
                first_used_at is not None,
            )
        )  # fmt: skip
    snapshot.passwords_by_user = {user_id: tuple(found) for user_id, found in grouped.items()}
    return snapshot


def _facts(snapshot: Snapshot, user_id: int) -> tuple:
    user = snapshot.users_by_id.get(user_id)
    passwords = snapshot.passwords_by_user.get(user_id, ())
    return (
        user and (user.email, user.active),
        tuple((p.id, p.state, p.can_read, p.can_send) for p in passwords),
    )


def changed_logins(old: Snapshot | None, new: Snapshot) -> set[str] | None:
    """Login names whose cached Dovecot logins may now be wrong; None means "flush everything"."""
    mailbox_rule = (old.policy.mailbox, old.policy.mailbox_cutoff) if old else None
    if old is None or mailbox_rule != (new.policy.mailbox, new.policy.mailbox_cutoff):
        return None
    names: set[str] = set()
    for user_id in old.users_by_id.keys() | new.users_by_id.keys():
        if _facts(old, user_id) != _facts(new, user_id):
            for snapshot in (old, new):
                user = snapshot.users_by_id.get(user_id)
                if user is not None:
                    names |= login_names(user.email)
    return names
