"""Signal receivers of the sending guard, connected in ``SendingConfig.ready()``.

- Anything the policy service serves changed (limits, aliases, shared mailboxes and their members, the
  settings, a suspension; a person's role, address or active flag): ``SendingState.version`` moves in the
  same transaction, so the service reloads within a second.
- IT staff let a person's app passwords send again from the user page (``accounts.signals.
  sending_reinstated``): the open suspension closes with the same reason.
"""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_delete, post_save

from accounts.models import User
from accounts.signals import sending_reinstated
from monitoring.sending.models import (
    LimitOverride,
    SenderAlias,
    SendingSettings,
    SendingState,
    SendingSuspension,
    SharedMailbox,
)

# The user facts the service serves; a save that touches none of them (last_login) is no change.
SERVED_USER_FIELDS = frozenset({"email", "canonical_email", "is_active", "role"})


def served_data_changed(sender, **kwargs) -> None:
    SendingState.bump()


def user_saved(sender, instance: User, created: bool = False, update_fields=None, **kwargs) -> None:
    if update_fields is None or SERVED_USER_FIELDS & set(update_fields):
        SendingState.bump()


def reinstated(sender, user: User, by: User | None, reason: str, request=None, **kwargs) -> None:
    from monitoring.sending import suspensions

    suspensions.close(user, by=by, reason=reason or "app passwords reinstated", request=request)


def connect() -> None:
    uid = "sending.signals."
    for model in (LimitOverride, SenderAlias, SharedMailbox, SendingSettings, SendingSuspension):
        post_save.connect(served_data_changed, sender=model, dispatch_uid=f"{uid}{model.__name__}_saved")
        post_delete.connect(served_data_changed, sender=model, dispatch_uid=f"{uid}{model.__name__}_deleted")
    m2m_changed.connect(served_data_changed, sender=SharedMailbox.members.through, dispatch_uid=uid + "members")
    post_save.connect(user_saved, sender=User, dispatch_uid=uid + "user_saved")
    sending_reinstated.connect(reinstated, sender=User, dispatch_uid=uid + "reinstated")
