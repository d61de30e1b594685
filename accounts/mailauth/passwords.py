"""App-password secrets: generate, normalise what a person typed, hash and compare.

A secret is 24 letters from a 23-letter alphabet (no i, l, o: easy to read and type on a phone),
about 108 random bits. Because the secret is random, a fast salted hash is safe to store
(HMAC-SHA256 keyed with a per-password salt): guessing 2**108 secrets is out of reach however
fast each guess is, while a slow password hash would add a third of a second to every IMAP login.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALPHABET = "abcdefghjkmnpqrstuvwxyz"
LENGTH = 24
GROUP = 4
SALT_BYTES = 16
# Separators people type or that mail apps keep when a password is pasted in groups.
_IGNORED = str.maketrans("", "", " -\t_.")


def generate() -> str:
    """A new secret, in groups of four letters separated by dashes (``abcd-efgh-...``)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def normalise(typed: str) -> str | None:
    """The 24 letters of an app password as typed (any case, with or without separators), else None."""
    if len(typed) > 64:
        return None
    letters = typed.translate(_IGNORED).lower()
    if len(letters) != LENGTH or any(ch not in ALPHABET for ch in letters):
        return None
    return letters


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def digest(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode("ascii"), hashlib.sha256).digest()


def matches(salt: bytes, stored_digest: bytes, secret: str) -> bool:
    return hmac.compare_digest(digest(salt, secret), stored_digest)


def bits_of_entropy() -> float:
    import math

    return LENGTH * math.log2(len(ALPHABET))
