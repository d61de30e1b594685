"""Settings for the test suite: the portal's own settings with test-only defaults.

Real services come from the same variables as in production: DATABASE_URL
(PostgreSQL) and CELERY_BROKER_URL (Redis). Nothing here mocks them.
"""

from __future__ import annotations

import os
from pathlib import Path

_root = Path(__file__).resolve().parent.parent
os.environ.setdefault("PORTAL_VAR_DIR", str(_root / "var" / "test"))
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-" + "0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
os.environ.setdefault("CACHE_URL", "locmem://tests")
os.environ.setdefault("DEVICE_CA_KEY_PASSPHRASE", "tests-only-devices-ca-passphrase-7Qx")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")

from portal.settings import *  # noqa: E402,F403
from portal.settings import STORAGES, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# The spoken CAPTCHA depends on whether flite is installed; the tests decide without it.
CAPTCHA_FLITE_PATH = None
# A Celery beat started by a test runs only the entries it names (tests/faults.py): the rest would sweep DNS
# block lists or sample this machine in the middle of a test about campaign deliveries.
if _beat_entries := os.environ.get("TEST_BEAT_ENTRIES"):
    CELERY_BEAT_SCHEDULE = {k: v for k, v in CELERY_BEAT_SCHEDULE.items() if k in _beat_entries.split(",")}  # noqa: F405
