"""Import users from CSV (email, first name, last name, department, role): all rows or none.

Every row is checked first; any bad row (bad email, unknown role, duplicate in the file
or in the portal, missing value) stops the whole import and is reported with its line
number. Used by the IT staff upload page and ``manage.py import_users``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.addresses import MAX_LENGTH, canonical, compatible
from accounts.models import Department, User
from accounts.roles import Role

COLUMNS = ["email", "first_name", "last_name", "department", "role"]
MAX_ROWS = 50_000
MAX_ERRORS_SHOWN = 200
_HEADER_ALIASES = {"e-mail": "email", "email address": "email", "first name": "first_name", "last name": "last_name"}
_ROLES = {**{r.value: r.value for r in Role}, **{r.label.lower(): r.value for r in Role}, "it staff": Role.IT_STAFF}


@dataclass
class ImportRow:
    line: int
    email: str
    first_name: str
    last_name: str
    department: str
    role: str


@dataclass
class ImportResult:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    created: list[User] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM); anything else is refused with a hint rather than guessed."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"The file is not UTF-8 text (unexpected byte at position {exc.start}). "
            "Save it as “CSV UTF-8” and upload it again."
        ) from None


def _header(raw: list[str]) -> list[str]:
    names = [" ".join(h.strip().lower().replace("_", " ").split()) for h in raw]
    return [_HEADER_ALIASES.get(n, n.replace(" ", "_")) for n in names]


def parse(text: str) -> ImportResult:
    """Check every row; ``result.rows`` are usable only when ``result.ok``."""
    result = ImportResult()
    if "\x00" in text:
        result.errors.append("The file contains NUL bytes; it is not a CSV text file.")
        return result
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = _header(next(reader))
    except StopIteration:
        result.errors.append("The file is empty. The first line must be: " + ", ".join(COLUMNS))
        return result
    except csv.Error as exc:
        result.errors.append(f"Line 1: not valid CSV ({exc}).")
        return result
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        result.errors.append(f"Line 1: missing column(s) {', '.join(missing)}. Expected: {', '.join(COLUMNS)}.")
        return result
    index = {c: header.index(c) for c in COLUMNS}
    seen: dict[str, int] = {}
    try:
        for line, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if len(result.rows) >= MAX_ROWS:
                result.errors.append(f"More than {MAX_ROWS} rows; split the file.")
                break
            row, problems = _check_row(line, values, index, seen)
            result.errors += problems
            if row:
                result.rows.append(row)
    except csv.Error as exc:
        result.errors.append(f"Line {reader.line_num}: not valid CSV ({exc}).")
    if not result.rows and not result.errors:
        result.errors.append("The file has a header but no users.")
    _check_existing(result)
    return result


def _check_row(line: int, values: list[str], index: dict[str, int], seen: dict[str, int]):
    if len(values) < len(index) or len(values) <= max(index.values()):
        return None, [f"Line {line}: expected {len(COLUMNS)} values, found {len(values)}."]
    get = {c: values[i].strip() for c, i in index.items()}
    problems = []
    email = compatible(get["email"]).lower()
    key = canonical(email)
    try:
        validate_email(email)
        if len(key) > MAX_LENGTH:
            raise ValidationError("too long")
    except ValidationError:
        problems.append(f"Line {line}: “{get['email'][:80]}” is not a valid email address.")
    role = _ROLES.get(" ".join(get["role"].lower().split()))
    if role is None:
        problems.append(f"Line {line}: unknown role “{get['role'][:40]}” (use employee, executive or it_staff).")
    # Duplicates in canonical form: ANA@, full-width and plain ana@ are one address (accounts.addresses).
    if key in seen:
        problems.append(f"Line {line}: {email} appears twice in the file (first on line {seen[key]}).")
    else:
        seen[key] = line
    for name in ("first_name", "last_name"):
        if len(get[name]) > 150:
            problems.append(f"Line {line}: {name.replace('_', ' ')} is longer than 150 characters.")
    if len(get["department"]) > 100:
        problems.append(f"Line {line}: department is longer than 100 characters.")
    if problems:
        return None, problems
    return ImportRow(line, email, get["first_name"], get["last_name"], get["department"], role), []


def _check_existing(result: ImportResult) -> None:
    keys = [canonical(row.email) for row in result.rows]
    existing: dict[str, str] = {}
    for start in range(0, len(keys), 900):  # stay under SQLite's parameter limit
        chunk = keys[start : start + 900]
        existing |= dict(User.objects.filter(canonical_email__in=chunk).values_list("canonical_email", "email"))
    for row, key in zip(result.rows, keys, strict=True):
        if key in existing:
            same = existing[key] == row.email
            result.errors.append(
                f"Line {row.line}: {row.email} already has an account{'' if same else f' ({existing[key]})'}."
            )


@transaction.atomic
def create_users(
    result: ImportResult, *, actor: User | None, invite: bool, request=None, source: str = ""
) -> list[User]:
    """Create every row's user in one transaction (nothing is created unless all rows are good)."""
    if not result.ok:
        raise ValueError("refusing to import a file with errors")
    departments = {d.name: d for d in Department.objects.all()}
    for name in {row.department for row in result.rows if row.department} - departments.keys():
        departments[name] = Department.objects.create(name=name)
    now = timezone.now()
    users = []
    for row in result.rows:
        user = User(
            email=row.email,
            first_name=row.first_name,
            last_name=row.last_name,
            department=departments.get(row.department),
            role=row.role,
            is_staff=row.role == Role.IT_STAFF,
            date_joined=now,
            otp_grace_start=now,
        )
        user.set_unusable_password()
        users.append(user)
    User.objects.bulk_create(users, batch_size=500)
    audit.record("users.imported", actor=actor, target=source[:300], request=request, count=len(users), invited=invite)
    if invite:
        from accounts import invitations

        invitations.invite_many(users, actor=actor, request=request)
    result.created = users
    return users


def import_bytes(data: bytes, *, actor: User | None, invite: bool, request=None, source: str = "") -> ImportResult:
    try:
        text = decode(data)
    except ValueError as exc:
        return ImportResult(errors=[str(exc)])
    result = parse(text)
    if result.ok:
        create_users(result, actor=actor, invite=invite, request=request, source=source)
    return result
