"""The scratch installation a benchmark runs against: a new temporary folder as var/ and a fresh database.

A benchmark is a script (``.venv/bin/python bench/<name>.py``), so Python finds this module next to it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scratch_django(name: str, *, database_url: str | None = None, **env: str) -> Path:
    """Set Django up on a fresh, migrated database in a new folder ``bench-<name>-*`` and return the folder.

    The database is SQLite in that folder unless ``database_url`` names a scratch database of your own;
    ``env`` adds environment variables (a broker URL, a log level) before Django reads its settings.
    """
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PORTAL_VAR_DIR": str(work),
            "DATABASE_URL": database_url or f"sqlite:///{work / 'bench.sqlite3'}",
            **env,
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return work
