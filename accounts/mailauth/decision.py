"""The verifier's decision: request + snapshot + time in, verdict out. No I/O, no Django.

The snapshot holds what the decision needs about every user and app password, loaded from the
database by ``accounts.mailauth.snapshot`` and replaced whole when anything changes.

Verdicts and when they are given (docs/mail-clients.md has the table for IT staff):

- OK: the password is one of the user's active app passwords and its scope covers the service
  (read = IMAP, POP3, ManageSieve; send = SMTP submission); Dovecot logs in as ``user``.
- FAIL: deactivated user (whatever the password); a revoked or wrong-scope app password; a suspended
  one for sending (it may still read); anything else while mailbox passwords are refused.
- NEXT: not an app password, and mailbox passwords are still accepted: the site's own passdb checks it.
- UNKNOWN: a login name the portal does not know while mailbox passwords are refused.
- TEMPFAIL: no snapshot yet (the database was never reachable): a temporary failure, never a success.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from accounts.addresses import canonical
from accounts.mailauth import passwords
from accounts.mailauth.protocol import Verify

READ_SERVICES = frozenset({"imap", "pop3", "sieve"})
SEND_SERVICES = frozenset({"smtp", "submission"})

ACTIVE, SUSPENDED, REVOKED = "active", "suspended", "revoked"
MAILBOX_ALLOWED, MAILBOX_UNTIL, MAILBOX_REFUSED = "allowed", "until", "refused"


class Verdict:
    OK = "OK"
    NEXT = "NEXT"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"
    TEMPFAIL = "TEMPFAIL"


class Reason:
    APP_PASSWORD = "app password"  # noqa: S105 - reasons, not secrets
    MAILBOX_ALLOWED = "mailbox password allowed"
    NOT_A_PORTAL_USER = "not a portal user, mailbox password allowed"
    DEACTIVATED = "user deactivated"
    REVOKED = "app password revoked"
    SUSPENDED = "app password suspended"
    SCOPE_SEND = "app password may not send mail"
    SCOPE_READ = "app password may not read mail"
    SERVICE = "service not covered by app passwords"
    REFUSED = "not an app password, mailbox passwords refused"
    UNKNOWN_USER = "unknown user"
    NOT_READY = "verifier has not loaded its data yet"


@dataclass(frozen=True)
class UserFacts:
    id: int
    email: str
    active: bool
    login: str  # the name the mail server knows (the email, or its local part)


@dataclass(frozen=True)
class PasswordFacts:
    id: int
    user_id: int
    name: str
    salt: bytes
    digest: bytes
    can_read: bool
    can_send: bool
    state: str
    first_used: bool


@dataclass(frozen=True)
class Policy:
    mailbox: str = MAILBOX_ALLOWED
    # With MAILBOX_UNTIL: mailbox passwords are accepted before this instant, refused from it on.
    mailbox_cutoff: datetime | None = None
    alert_threshold: int = 20
    alert_minutes: int = 10

    def mailbox_allowed(self, now: datetime) -> bool:
        if self.mailbox == MAILBOX_ALLOWED:
            return True
        if self.mailbox == MAILBOX_UNTIL:
            return self.mailbox_cutoff is not None and now < self.mailbox_cutoff
        return False


@dataclass
class Snapshot:
    version: int
    policy: Policy
    users_by_login: dict[str, UserFacts] = field(default_factory=dict)
    users_by_id: dict[int, UserFacts] = field(default_factory=dict)
    passwords_by_user: dict[int, tuple[PasswordFacts, ...]] = field(default_factory=dict)
    loaded_at: float = 0.0

    def user_for(self, login: str) -> UserFacts | None:
        """The person a login name means: its canonical form (accounts.addresses), as sign-in compares."""
        return self.users_by_login.get(canonical(login))

    @property
    def password_count(self) -> int:
        return sum(len(found) for found in self.passwords_by_user.values())


@dataclass(frozen=True)
class Answer:
    verdict: str
    reason: str
    user: UserFacts | None = None
    password: PasswordFacts | None = None

    @property
    def login(self) -> str:
        return self.user.login if self.user else ""


def find_password(candidates: tuple[PasswordFacts, ...], typed: str) -> PasswordFacts | None:
    """The app password ``typed`` is, among one user's; every candidate is hashed (no early exit)."""
    secret = passwords.normalise(typed)
    if secret is None:
        return None
    found = None
    for candidate in candidates:
        if passwords.matches(candidate.salt, candidate.digest, secret):
            found = candidate
    return found


def scope_refusal(password: PasswordFacts, service: str) -> str | None:
    if service in READ_SERVICES:
        return None if password.can_read else Reason.SCOPE_READ
    if service in SEND_SERVICES:
        return None if password.can_send else Reason.SCOPE_SEND
    return Reason.SERVICE


def decide(request: Verify, snapshot: Snapshot | None, now: datetime) -> Answer:
    if snapshot is None:
        return Answer(Verdict.TEMPFAIL, Reason.NOT_READY)
    mailbox_allowed = snapshot.policy.mailbox_allowed(now)
    user = snapshot.user_for(request.login)
    if user is None:
        if mailbox_allowed:
            return Answer(Verdict.NEXT, Reason.NOT_A_PORTAL_USER)
        return Answer(Verdict.UNKNOWN, Reason.UNKNOWN_USER)
    if not user.active:
        return Answer(Verdict.FAIL, Reason.DEACTIVATED, user)
    password = find_password(snapshot.passwords_by_user.get(user.id, ()), request.password)
    if password is not None:
        if password.state == REVOKED:
            return Answer(Verdict.FAIL, Reason.REVOKED, user, password)
        refusal = scope_refusal(password, request.service)
        if refusal:
            return Answer(Verdict.FAIL, refusal, user, password)
        if password.state == SUSPENDED and request.service in SEND_SERVICES:
            # Suspended by the sending guard: the device may go on reading mail, not send any.
            return Answer(Verdict.FAIL, Reason.SUSPENDED, user, password)
        return Answer(Verdict.OK, Reason.APP_PASSWORD, user, password)
    if mailbox_allowed:
        return Answer(Verdict.NEXT, Reason.MAILBOX_ALLOWED, user)
    return Answer(Verdict.FAIL, Reason.REFUSED, user)
