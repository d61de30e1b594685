"""The portal's glue. The Celery application is ``portal.celery.app``; ``PortalConfig.ready()`` imports it
whenever Django starts with the portal installed, so that every ``shared_task`` publishes through it."""

from __future__ import annotations

__all__ = ["celery_app"]


def __getattr__(name: str):
    # Imported on first use rather than with the package: importing Celery costs a tenth of a second, which
    # a command set up without the portal app (``dnsbl_check``, monitoring/dnsbl/standalone.py) does not pay.
    if name == "celery_app":
        from portal.celery import app

        return app
    raise AttributeError(f"module 'portal' has no attribute {name!r}")
