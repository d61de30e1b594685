from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import signals
        from accounts.directory import it_alert_recipients
        from portal import outbox

        # The outbox never imports accounts (no import circle between the apps): it is told who IT is.
        outbox.register_it_recipients(it_alert_recipients)
        # Receivers for one sender each (a user, an OTP device, a sign-out), never every save.
        signals.connect()
