"""Django set up with only what ``manage.py dnsbl_check`` needs, so that the check starts quickly.

A check is run from scripts, often for one address: Django's full start-up (every app's models, admin
modules and signal receivers, Celery, the system checks and the URL configuration they import) took most
of its time. ``manage.py`` calls ``setup()`` before Django's own set-up when the command is
``dnsbl_check``: the same settings module, database and ``DNSBL_*`` settings, with the installed apps
narrowed to the block lists' (the catalogue the check reads). Nothing of the other apps is loaded, so the
command skips the system checks, which would find the block lists' link to the user model unresolved.
"""

from __future__ import annotations

from monitoring.dnsbl.apps import DnsblConfig


class CheckConfig(DnsblConfig):
    """The block lists' app without its ``ready()``: the check shows no page, so it registers no status line
    (whose module would import the sweep, the outbox and the portal's models)."""

    def ready(self) -> None:
        pass


def setup() -> None:
    import django
    from django.conf import settings

    settings.INSTALLED_APPS = ["monitoring.dnsbl.standalone.CheckConfig"]
    django.setup()
