"""Which files configuration drift reads, and how: patterns expanded (with a cap), the portal's own secrets
refused, known secret files compared by checksum only, and the map files Postfix's main.cf names.

Nothing here reads a file's content except ``postfix_maps`` (given the text of main.cf).
"""

from __future__ import annotations

import glob
import os
import re
from fnmatch import fnmatch
from pathlib import Path

from django.conf import settings

# Files that hold credentials by their nature: compared by checksum only, whatever list they are in.
SECRET_NAMES = ("sasl_passwd", "*.pem", "*.key", "dovecot-sql.conf.ext", "*password*", "*passwd*", "*secret*")


def is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


def expand_pattern(pattern: str, limit: int) -> tuple[list[str], bool]:
    """The files a pattern names (sorted), at most ``limit``; and whether it matched more than that."""
    if not is_glob(pattern):
        return [pattern], False
    paths = []
    for path in glob.iglob(pattern):
        paths.append(path)
        if len(paths) > limit:
            return sorted(paths)[:limit], True
    return sorted(paths), False


def watched_by(path: str, patterns: list[str]) -> bool:
    return any(fnmatch(path, p) if is_glob(p) else path == p for p in patterns)


def is_secret_file(path: str) -> bool:
    name = os.path.basename(path).lower()
    return any(fnmatch(name, pattern) for pattern in SECRET_NAMES)


def _portal_secrets() -> list[Path]:
    """The portal's own secrets: var/ (the generated SECRET_KEY, databases, the broker), the .env file."""
    base = Path(settings.BASE_DIR)
    env_file = base / os.environ.get("PORTAL_ENV_FILE", ".env")
    return [Path(settings.VAR_DIR), base / "var", env_file]


def forbidden_reason(path: str) -> str:
    """Why ``path`` may not be watched (empty: it may). A link is judged by where it leads."""
    if os.path.basename(path) == ".env":
        return "an environment file holds the portal's secrets; it cannot be watched"
    resolved = Path(os.path.realpath(path))
    for secret in _portal_secrets():
        target = Path(os.path.realpath(secret))
        if resolved == target or target in resolved.parents:
            return "the portal's own secrets (var/, .env) cannot be watched"
    return ""


# main.cf values naming lookup tables kept in files: "hash:/etc/postfix/virtual", "pcre:/etc/postfix/x.pcre".
_MAP = re.compile(r"\b(?:hash|btree|lmdb|cdb|dbm|texthash|regexp|pcre|cidr|inline-file):(/[^\s,]+)")


def postfix_maps(main_cf: str) -> list[str]:
    """The map source files main.cf names (their .db is derived from them and not worth watching)."""
    found = []
    for line in main_cf.splitlines():
        if line.lstrip().startswith("#"):
            continue
        found.extend(match.group(1) for match in _MAP.finditer(line))
    return sorted(set(found))
