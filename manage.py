#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def settings_problem() -> str | None:
    """What is wrong with the settings (no SECRET_KEY with DEBUG off, ...), or None.

    Django keeps such an error to itself for a command it knows and fails later with a message that does
    not name it ("Models aren't loaded yet"); the portal says what to set instead.
    """
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 (reading it loads the settings)
    except ImproperlyConfigured as exc:
        return str(exc)
    return None


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    asks_other_settings = any(arg.startswith(("--settings", "--pythonpath")) for arg in sys.argv[2:])
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if not asks_other_settings and command not in ("help", "--help", "-h", "version", "--version"):
        problem = settings_problem()
        if problem:
            hint = "" if os.environ.get("DEBUG") else " (on a development machine: DEBUG=1 python manage.py ...)"
            sys.exit(f"manage.py {command}: the settings are incomplete: {problem}{hint}")
    if sys.argv[1:2] == ["dnsbl_check"] and not asks_other_settings:
        # Run from scripts, often: Django with only the block lists' app (monitoring/dnsbl/standalone.py).
        # With --settings or --pythonpath Django's own set-up reads them (this one would run first).
        from monitoring.dnsbl.standalone import setup

        setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
