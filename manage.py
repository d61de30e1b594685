#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    asks_other_settings = any(arg.startswith(("--settings", "--pythonpath")) for arg in sys.argv[2:])
    if sys.argv[1:2] == ["dnsbl_check"] and not asks_other_settings:
        # Run from scripts, often: Django with only the block lists' app (monitoring/dnsbl/standalone.py).
        # With --settings or --pythonpath Django's own set-up reads them (this one would run first).
        from monitoring.dnsbl.standalone import setup

        setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
