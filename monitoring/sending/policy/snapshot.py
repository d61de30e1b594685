"""Load the policy service's snapshot from the database (in its database thread, never per request).

The service polls ``version()`` every second and reloads when it moved: ``SendingState.version`` (limits,
aliases, shared mailboxes, suspensions, usual hours, a person's role) and the mail login verifier's
``MailAuthState.version`` (a person added, deactivated or given another address). The versions are read
*before* the rows, so a change that commits in between is seen at the next poll rather than missed.
"""

from __future__ import annotations

import logging
import time

from accounts.addresses import canonical
from accounts.mailauth.snapshot import login_names
from monitoring.sending.policy.decision import Limits, Rules, Sender, Snapshot

log = logging.getLogger(__name__)


def version() -> tuple[int, int]:
    from accounts.models import MailAuthState
    from monitoring.sending.models import SendingState

    return SendingState.current_version(), MailAuthState.current_version()


def _limits(base: Limits, override) -> Limits:
    if override is None:
        return base
    return Limits(
        override.recipients_per_hour or base.recipients_per_hour,
        override.recipients_per_day or base.recipients_per_day,
        override.messages_per_minute or base.messages_per_minute,
    )


def rules() -> Rules:
    from monitoring.sending.models import SendingSettings

    org = SendingSettings.load()
    return Rules(
        defaults=Limits(org.recipients_per_hour, org.recipients_per_day, org.messages_per_minute),
        soft_mark_percent=org.soft_mark_percent,
        burst_multiplier=org.burst_multiplier,
        burst_floor=org.burst_floor,
        allow_subaddress=org.allow_subaddress,
    )


def load() -> Snapshot:
    from accounts.models import User
    from monitoring.sending.models import (
        LimitOverride,
        SenderAlias,
        SenderProfile,
        SendingSuspension,
        SharedMailbox,
    )

    current = version()
    org_rules = rules()
    overrides = list(LimitOverride.objects.all())
    by_role = {o.role: o for o in overrides if o.role}
    by_user = {o.user_id: o for o in overrides if o.user_id}
    addresses: dict[int, set[str]] = {}
    for user_id, address in SenderAlias.objects.values_list("user_id", "canonical_address"):
        addresses.setdefault(user_id, set()).add(address)
    for user_id, address in SharedMailbox.members.through.objects.values_list(
        "user_id", "sharedmailbox__canonical_address"
    ):
        addresses.setdefault(user_id, set()).add(address)
    usual = dict(SenderProfile.objects.values_list("user_id", "usual_hour"))
    suspended = set(SendingSuspension.objects.open().values_list("user_id", flat=True))

    snapshot = Snapshot(version=current, rules=org_rules, loaded_at=time.time())
    taken: dict[str, int] = {}
    ambiguous: set[str] = set()
    users = User.objects.filter(is_active=True).values_list("pk", "email", "role")
    for pk, email, role in users.iterator(chunk_size=5000):
        own = canonical(email)
        limits = _limits(_limits(org_rules.defaults, by_role.get(role)), by_user.get(pk))
        sender = Sender(
            id=pk,
            email=own,
            addresses=frozenset({own, *addresses.get(pk, ())}),
            limits=limits,
            burst_threshold=org_rules.burst_threshold(usual.get(pk)),
            usual_hour=usual.get(pk),
            suspended=pk in suspended,
        )
        snapshot.senders_by_id[pk] = sender
        for name in login_names(email):
            if name in taken and taken[name] != pk:
                ambiguous.add(name)
            taken[name] = pk
            snapshot.senders_by_login[name] = sender
    for name in ambiguous:
        # Two people share a local part (MAIL_USERNAME=localpart): only the full address is theirs.
        snapshot.senders_by_login.pop(name, None)
        log.warning("mail login name %r is ambiguous (several portal users); only full addresses are known", name)
    return snapshot
