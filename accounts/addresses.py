"""One canonical form of an email address, used wherever the portal asks "is this the same person?".

Sign-in lookup, lockout keys, uniqueness (a database constraint on ``User.canonical_email``), CSV import
duplicates, invitations and password reset all compare ``canonical()`` forms, never ``lower()`` or the
database's case-insensitive match: PostgreSQL's ``UPPER()`` folds the dotless i (U+0131) and the long s (U+017F)
onto ``I`` and ``S``, Python's ``lower()`` does not, and a lockout keyed one way while sign-in looks up the
other was a way around the lockout.

The form: Unicode NFKC (full-width letters, the Kelvin sign, ligatures and the long s become their plain
letters), then full case folding, then NFKC again (folding can leave a string that is not normalised);
the domain is IDNA-encoded (``bücher.example`` -> ``xn--bcher-kva.example``). Letters that only look
alike but are different letters (the dotless i, a Cyrillic a) stay different: they are another
address, which has no account unless someone created one.
"""

from __future__ import annotations

import contextlib
import unicodedata

MAX_LENGTH = 254


def canonical(address: str | None) -> str:
    """The canonical form of ``address`` (never raises: input from a form may be anything)."""
    text = unicodedata.normalize("NFKC", (address or "").strip())
    text = unicodedata.normalize("NFKC", text.casefold())
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    # The stdlib codec is IDNA 2003 (nameprep); the labels are already folded, so only the encoding remains.
    # Not a valid domain name: kept as it is, and it matches no account.
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


def compatible(address: str | None) -> str:
    """``address`` with compatibility characters made plain (NFKC), before it is validated or stored.

    Full-width letters from an input method, or a ligature pasted from a document, are the plain address
    the person meant; the case is left alone (that is for ``canonical``).
    """
    return unicodedata.normalize("NFKC", (address or "").strip())
