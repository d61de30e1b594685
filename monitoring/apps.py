"""The ``monitoring`` app: the glue of the two monitoring apps, no models of its own any more.

``monitoring/dnsbl/`` (label ``dnsbl``) and ``monitoring/serverload/`` (label ``serverload``) are
the apps. This one stays installed because:

- its migrations are the history of every existing install: 0001-0003 created the tables and
  loaded the block-list catalogue, 0004 hands the models over to the two apps (state only: the
  tables and their rows stay where they are). A fresh install runs the same chain.
- ``monitoring.status`` is the registry both apps report into, read by the home page
  (``monitoring.home``) and the executive summary (``policies.summary``).
"""

from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"
