from __future__ import annotations

from django.apps import AppConfig


class ServerloadConfig(AppConfig):
    name = "monitoring.serverload"
    label = "serverload"
    verbose_name = "Server load and configuration drift"

    def ready(self) -> None:
        from monitoring import status
        from monitoring.serverload import alerts, drift

        status.register(alerts.status_line)
        status.register(drift.status_line)
