from __future__ import annotations

from django.apps import AppConfig


class SendingConfig(AppConfig):
    name = "monitoring.sending"
    label = "sending"
    verbose_name = "Sending guard"

    def ready(self) -> None:
        from accounts import user_sections
        from monitoring import status
        from monitoring.sending import report, signals

        status.register(report.status_line)
        user_sections.register(report.user_section)
        signals.connect()
