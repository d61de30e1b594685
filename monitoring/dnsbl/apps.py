from __future__ import annotations

from django.apps import AppConfig


class DnsblConfig(AppConfig):
    name = "monitoring.dnsbl"
    label = "dnsbl"
    verbose_name = "DNS block lists"

    def ready(self) -> None:
        from monitoring import status
        from monitoring.dnsbl.report import status_line

        status.register(status_line)
