"""Read settings from the environment (and an optional ``.env`` file).

Every setting the portal takes from outside goes through one of these small
functions, so a bad value stops the start with ``ImproperlyConfigured`` and a
message that names the variable, instead of failing later in a request.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def load_dotenv(path: Path) -> None:
    """Load ``KEY=value`` lines into ``os.environ`` without overriding it."""
    if not path.is_file():
        return
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ImproperlyConfigured(f"{path}:{number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(key, value)


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off (got {raw!r})")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number (got {raw!r})") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (got {value})")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number (got {raw!r})") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (got {value})")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


# A key of 50 characters drawn from few different ones is guessable; a hex key has 16, a generated one ~40.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_DISTINCT = 12


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` is not good enough for ``SECRET_KEY``, or None."""
    if len(key) < SECRET_KEY_MIN_LENGTH or key.startswith("django-insecure"):
        return f"SECRET_KEY must be at least {SECRET_KEY_MIN_LENGTH} random characters"
    if len(set(key)) < SECRET_KEY_MIN_DISTINCT:
        return (
            f"SECRET_KEY must be at least {SECRET_KEY_MIN_LENGTH} random characters with at least "
            f"{SECRET_KEY_MIN_DISTINCT} different ones (it has {len(set(key))})"
        )
    return None


PASSPHRASE_MIN_LENGTH = 20


def passphrase_problem(value: str, secret_key: str) -> str | None:
    """Why ``value`` is not good enough to encrypt a private key with, or None."""
    if len(value) < PASSPHRASE_MIN_LENGTH or len(set(value)) < SECRET_KEY_MIN_DISTINCT:
        return (
            f"use at least {PASSPHRASE_MIN_LENGTH} random characters with at least {SECRET_KEY_MIN_DISTINCT} "
            "different ones, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if value in secret_key:
        return "must not be (part of) SECRET_KEY: a leaked SECRET_KEY must not open the devices CA's key"
    return None


def parse_database_url(url: str, *, name: str = "DATABASE_URL") -> dict:
    """Turn ``postgres://user:pass@host:port/db`` or ``sqlite:///path`` into a Django DATABASES entry."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = unquote(parts.path)
        # sqlite:///relative/path and sqlite:////absolute/path, like most tools.
        path = path[1:]
        if not path:
            raise ImproperlyConfigured(f"{name}: sqlite URL needs a file path, e.g. sqlite:///var/portal.sqlite3")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path}
    if scheme in {"postgres", "postgresql", "pgsql"}:
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise ImproperlyConfigured(f"{name}: PostgreSQL URL needs a database name")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{name}: the port is not a number") from None
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        config: dict = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": database,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
        if options:
            config["OPTIONS"] = options
        return config
    raise ImproperlyConfigured(f"{name}: unsupported scheme {scheme!r}; use postgres:// or sqlite://")


def parse_cache_url(url: str, *, name: str = "CACHE_URL", base_dir: Path | None = None) -> dict:
    """``redis://host:6379/1``, ``locmem://`` or ``file://`` into a Django CACHES entry.

    ``file:///var/cache/portal`` is an absolute folder; ``file://var/cache`` (as the README shows) is relative
    to ``base_dir``, the project folder, never ``/cache`` (which is how a URL parser reads it).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"redis", "rediss"}:
        # Django's RedisCache, but an unreachable Redis is a miss, not an error (portal/cache.py).
        return {"BACKEND": "portal.cache.ResilientRedisCache", "LOCATION": url}
    if scheme == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": parts.netloc or "portal"}
    if scheme == "file":
        folder = unquote(url[len("file://") :].split("?", 1)[0])
        if not folder.strip("/"):
            raise ImproperlyConfigured(f"{name}: file URL needs a folder, e.g. file://var/cache or file:///srv/cache")
        path = Path(folder)
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        return {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(path)}
    raise ImproperlyConfigured(f"{name}: unsupported scheme {scheme!r}; use redis://, locmem:// or file://")
