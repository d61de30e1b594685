"""Signal receivers of the accounts app, each for one sender, connected in ``AccountsConfig.ready()``.

- A user saved: the gateway's cached facts about them are dropped; ``is_active`` going from True to False
  (whichever way: user page, admin, shell) calls ``accounts.lifecycle.account_deactivated``.
- A user deleted: their sessions end.
- An OTP device (TOTP token or backup codes) saved or deleted: the gateway's facts are dropped; a removed
  or unconfirmed token ends the webmail sessions it verified.
- A sign-out: the webmail session of that portal session is marked ended.
- The device settings saved (who needs a company certificate): every person's gateway facts are dropped.
- ``sending_reinstated`` (sent by ``accounts.app_passwords.reinstate_sending``): IT staff let a person send
  mail again; the sending guard connects to it and closes its suspension (accounts never imports it).
- Anything the mail login verifier serves changed (an app password; a user's address or active flag,
  a user added or deleted; the organisation's settings): its version moves (``MailAuthState.bump``) in
  the same transaction, so it reloads within a second.
"""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import Signal
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import gateway, lifecycle
from accounts.models import (
    AppPassword,
    BackupCodeDevice,
    DeviceSettings,
    MailAuthState,
    OrganisationSettings,
    User,
    WebmailSession,
)

# IT staff let a person's suspended app passwords send again: kwargs user, by, reason, request.
sending_reinstated = Signal()

# The user facts the mail login verifier serves; a save that touches none of them (last_login) is no change.
VERIFIER_USER_FIELDS = frozenset({"email", "canonical_email", "is_active"})


def _forget(user_id: int | None) -> None:
    gateway.forget_user(user_id)
    # A request that read the database before this transaction committed may cache the old facts again.
    transaction.on_commit(lambda: gateway.forget_user(user_id))


def _end_open(queryset, reason: str) -> None:
    from django.utils import timezone

    queryset.filter(ended_at__isnull=True).update(ended_at=timezone.now(), end_reason=reason)


def user_pre_save(sender, instance: User, update_fields=None, **kwargs) -> None:
    """Remember whether the stored account was active, to see the True -> False transition after the save."""
    instance._was_active = False
    if instance.pk is None or instance._state.adding:
        return
    if update_fields is not None and "is_active" not in update_fields:
        instance._was_active = instance.is_active  # not part of this save: no transition
        return
    instance._was_active = bool(User.objects.filter(pk=instance.pk).values_list("is_active", flat=True).first())


def user_post_save(sender, instance: User, created: bool = False, update_fields=None, **kwargs) -> None:
    _forget(instance.pk)
    if update_fields is None or VERIFIER_USER_FIELDS & set(update_fields):
        MailAuthState.bump()
    if getattr(instance, "_was_active", False) and not instance.is_active:
        lifecycle.account_deactivated(instance)


def user_post_delete(sender, instance: User, **kwargs) -> None:
    _forget(instance.pk)
    MailAuthState.bump()
    lifecycle.account_deleted(instance.pk)


def mail_auth_changed(sender, **kwargs) -> None:
    MailAuthState.bump()


def device_changed(sender, instance, **kwargs) -> None:
    if kwargs.get("signal") is post_delete or not instance.confirmed:
        _end_open(WebmailSession.objects.filter(device_id=instance.persistent_id), WebmailSession.EndReason.TOKEN_RESET)
    _forget(instance.user_id)


def device_rules_changed(sender, created: bool = False, **kwargs) -> None:
    """Who needs a company certificate is part of every person's cached gateway facts."""
    if created:
        return  # the row made by a first load() holds the defaults every fact was built with
    gateway.forget_everyone()
    transaction.on_commit(gateway.forget_everyone)


def signed_out(sender, request, user, **kwargs) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        _end_open(WebmailSession.objects.filter(session_key=session_key), WebmailSession.EndReason.SIGNED_OUT)


def connect() -> None:
    uid = "accounts.signals."
    pre_save.connect(user_pre_save, sender=User, dispatch_uid=uid + "user_pre_save")
    post_save.connect(user_post_save, sender=User, dispatch_uid=uid + "user_post_save")
    post_delete.connect(user_post_delete, sender=User, dispatch_uid=uid + "user_post_delete")
    for device in (TOTPDevice, BackupCodeDevice):
        post_save.connect(device_changed, sender=device, dispatch_uid=f"{uid}{device.__name__}_saved")
        post_delete.connect(device_changed, sender=device, dispatch_uid=f"{uid}{device.__name__}_deleted")
    user_logged_out.connect(signed_out, sender=User, dispatch_uid=uid + "signed_out")
    post_save.connect(mail_auth_changed, sender=AppPassword, dispatch_uid=uid + "app_password_saved")
    post_delete.connect(mail_auth_changed, sender=AppPassword, dispatch_uid=uid + "app_password_deleted")
    post_save.connect(mail_auth_changed, sender=OrganisationSettings, dispatch_uid=uid + "organisation_saved")
    post_save.connect(device_rules_changed, sender=DeviceSettings, dispatch_uid=uid + "device_settings_saved")
