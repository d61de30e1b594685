from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # The Celery application, before anything publishes a task (Celery's Django pattern; the import used
        # to sit in portal/__init__.py, where every settings import paid for it).
        import portal.celery  # noqa: F401
