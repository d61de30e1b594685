"""Configuration drift: compare watched files with their approved baseline.

A check reads every watched file (globs expanded) and compares its SHA-256
with the baseline. A change is a finding with a unified diff; IT staff approve
the new state as the baseline (with a note, audited) or leave the finding open.
A file that is missing, unreadable, not a regular file, binary or over 256 KiB
is a finding too: nothing here raises on a bad file.

The first check on an installation takes the files as they are as the
baseline; files that appear later under a watched pattern are "new" findings.

No secret leaves the file: a path is read by checksum only when it is in the checksum-only list or
its name says it holds credentials (``watchlist.is_secret_file``: ``sasl_passwd``, ``*.key``, ...);
in "diff" mode the values of secret-looking settings are masked before the content is stored, so
neither the database, nor a page, nor an email ever holds them (``drift_rules.mask_secrets``). A change
that opens the server (an open relay, plain-text passwords) carries plain sentences in ``risks`` and
is critical (``drift_rules.risks``).
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.audit import record
from monitoring.serverload import drift_rules, emails
from monitoring.serverload.models import DriftBaseline, DriftCheck, DriftFinding, LoadSettings
from monitoring.serverload.watchlist import (
    expand_pattern,
    forbidden_reason,
    is_secret_file,
    postfix_maps,
    watched_by,
)
from monitoring.status import StatusLine
from portal.dates import format_when

log = logging.getLogger(__name__)

MAX_TEXT = 256 * 1024
MAX_DIFF = 200 * 1024
STUCK_AFTER = timedelta(minutes=10)
Kind = DriftFinding.Kind


@dataclass
class FileState:
    path: str
    status: str  # text | binary | huge | checksum | missing | unreadable
    sha256: str = ""
    size: int = 0
    content: str = ""
    error: str = ""


@dataclass
class CheckResult:
    check: DriftCheck
    checked: list[str] = field(default_factory=list)
    new_findings: list[DriftFinding] = field(default_factory=list)
    baselined: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # patterns cut at DRIFT_MAX_FILES, paths refused


def expand(patterns: list[str], notes: list[str] | None = None) -> list[str]:
    """The files the patterns name, each pattern cut at ``DRIFT_MAX_FILES`` and without the portal's own
    secrets (the form refuses both; a file that appeared since, or a link, is caught here)."""
    limit = settings.DRIFT_MAX_FILES
    paths: set[str] = set()
    for pattern in patterns:
        found, more = expand_pattern(pattern, limit)
        if more and notes is not None:
            notes.append(f"{pattern} matches more than {limit} files: only the first {limit} are watched")
        for path in found:
            if reason := forbidden_reason(path):
                if notes is not None:
                    notes.append(f"{path} is not read: {reason}")
                continue
            paths.add(path)
    return sorted(paths)


def checksum_only(path: str, checksum_patterns: list[str]) -> bool:
    return is_secret_file(path) or watched_by(path, checksum_patterns)


def read_file(path: str, checksum: bool = False) -> FileState:
    """The state of one file, never raising: text (secrets masked), binary, huge, checksum (``checksum``:
    its content is hashed and never kept), missing or unreadable."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return FileState(path, "missing", error="the file does not exist")
    except OSError as exc:
        return FileState(path, "unreadable", error=exc.strerror or str(exc))
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        return FileState(path, "unreadable", error=f"the path is {kind}")
    if not os.access(path, os.R_OK, effective_ids=os.access in os.supports_effective_ids):
        return FileState(path, "unreadable", error="permission denied")
    digest = hashlib.sha256()
    head = bytearray()
    size = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 16):
                digest.update(chunk)
                size += len(chunk)
                if len(head) <= MAX_TEXT:
                    head += chunk[: MAX_TEXT + 1 - len(head)]
    except OSError as exc:
        return FileState(path, "unreadable", error=exc.strerror or str(exc))
    sha = digest.hexdigest()
    if checksum:
        return FileState(path, "checksum", sha, size, error="checksum only: the content is not stored")
    if size > MAX_TEXT:
        return FileState(path, "huge", sha, size, error=f"{size:,} bytes: over 256 KiB, compared by checksum only")
    if b"\0" in head:
        return FileState(path, "binary", sha, size, error="binary content: compared by checksum only")
    try:
        text = bytes(head).decode("utf-8")
    except UnicodeDecodeError:
        return FileState(path, "binary", sha, size, error="not UTF-8 text: compared by checksum only")
    # Masked before it goes anywhere: the stored baseline, the diff, the page and the email see only this.
    return FileState(path, "text", sha, size, drift_rules.mask_secrets(text))


def unified_diff(path: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"{path} (approved)",
        tofile=f"{path} (now)",
    )
    diff = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return diff if len(diff) <= MAX_DIFF else diff[:MAX_DIFF] + "\n[diff cut at 200 KiB]\n"


def _finding_for(state: FileState, baseline: DriftBaseline | None, first_run: bool) -> dict | None:
    """What is wrong with one file compared with its baseline, as finding fields (None: as approved)."""
    new = {"new_sha256": state.sha256, "new_kind": state.status, "new_size": state.size, "new_content": state.content}
    if baseline is None:
        if state.status == "missing":
            return None  # a watched name not present on this server
        if state.status == "unreadable":
            return {"kind": Kind.UNREADABLE, "detail": state.error}
        if first_run:
            if state.status in {"binary", "huge"}:  # checksum-only by choice needs no note
                return {"kind": state.status, "detail": state.error, **new}
            return None
        return {"kind": Kind.NEW, "detail": "a new file under a watched pattern", **new}
    old = {"old_sha256": baseline.sha256}
    if state.status == "missing":
        return {"kind": Kind.MISSING, "detail": state.error, **old}
    if state.status == "unreadable":
        return {"kind": Kind.UNREADABLE, "detail": state.error, **old}
    if state.sha256 == baseline.sha256:
        return None
    if state.status == "text" and baseline.kind == DriftBaseline.Kind.TEXT:
        diff = unified_diff(state.path, baseline.content, state.content)
        detail = "the content differs from the approved baseline"
        if not diff:
            detail = "only values hidden as secrets changed (passwords, keys): the diff shows none of them"
        return {"kind": Kind.CHANGED, "detail": detail, "diff": diff, **old, **new}
    return {
        "kind": Kind.CHANGED,
        "detail": f"the checksum changed ({state.error or 'no text to compare'})",
        **old,
        **new,
    }


def run_check(check: DriftCheck, now: datetime | None = None) -> CheckResult:
    """Compare every watched file with its baseline; record findings on ``check``."""
    now = now or timezone.now()
    settings_row = LoadSettings.load()
    patterns, checksum_patterns = settings_row.watched_patterns(), settings_row.checksum_patterns()
    baselines = {b.path: b for b in DriftBaseline.objects.all()}
    first_run = not baselines and not DriftCheck.objects.filter(status=DriftCheck.Status.DONE).exists()
    result = CheckResult(check)
    states = {path: read_file(path, checksum_only(path, checksum_patterns)) for path in expand(patterns, result.notes)}
    # The map files main.cf names (virtual, transport, sasl_passwd...) are part of Postfix's configuration.
    maps = {m for s in states.values() if s.path.endswith("/main.cf") and s.content for m in postfix_maps(s.content)}
    for path in sorted(maps - set(states)):
        if not forbidden_reason(path):
            states[path] = read_file(path, checksum_only(path, checksum_patterns))
    watched = set(states) | set(maps)
    for path in baselines:
        if path not in states and (watched_by(path, patterns) or path in watched):
            states[path] = read_file(path, checksum_only(path, checksum_patterns))
    context = _dovecot_context(states.values())
    local = drift_rules.local_networks()
    open_findings = {f.path: f for f in DriftFinding.objects.filter(resolved_at__isnull=True)}
    for path in sorted(states):
        state = states[path]
        result.checked.append(path)
        found = _finding_for(state, baselines.get(path), first_run)
        if found is not None and state.status == "text":
            before = baselines[path].content if path in baselines else ""
            found["risks"] = "\n".join(drift_rules.risks(path, before, state.content, context, local))
        existing = open_findings.get(path)
        with transaction.atomic():
            if first_run and state.status in {"text", "binary", "huge", "checksum"} and path not in baselines:
                DriftBaseline.objects.create(
                    path=path, kind=state.status, sha256=state.sha256, size=state.size,
                    content=state.content, note="First check: the files as they were.",
                )  # fmt: skip
                result.baselined.append(path)
            if found is None:
                if existing:  # back as approved (a change was undone), or the first check's binary / huge note
                    noted = existing.kind in {Kind.BINARY, Kind.HUGE}
                    existing.resolved_at, existing.resolution = now, "noted" if noted else "restored"
                    existing.save(update_fields=["resolved_at", "resolution"])
                continue
            same = existing and existing.kind == found["kind"] and existing.new_sha256 == found.get("new_sha256", "")
            if same:
                existing.last_seen_at = now
                existing.save(update_fields=["last_seen_at"])
                continue
            if existing:  # changed again since the finding was raised: it is news again
                existing.resolved_at, existing.resolution = now, "superseded"
                existing.save(update_fields=["resolved_at", "resolution"])
            finding = DriftFinding.objects.create(check_run=check, path=path, found_at=now, last_seen_at=now, **found)
            result.new_findings.append(finding)
    check.status, check.finished_at = DriftCheck.Status.DONE, timezone.now()
    check.files_checked, check.new_findings = len(result.checked), len(result.new_findings)
    with transaction.atomic():  # a check that found something is never without its alert
        check.save(update_fields=["status", "finished_at", "files_checked", "new_findings"])
        if result.new_findings:
            emails.send_drift_findings(check, list(check.findings.all()), diff_stats)
    return result


def _dovecot_context(states) -> dict[str, str]:
    """Dovecot's settings across its watched files (dovecot.conf, then conf.d in order): what TLS it asks for."""
    merged: dict[str, str] = {}
    for state in sorted(states, key=lambda s: s.path):
        if "dovecot" in state.path and state.status == "text":
            merged.update(drift_rules.settings_of(state.content))
    return merged


# --- Scheduling and requests -----------------------------------------------------------------------


def request_check(user, request=None) -> DriftCheck:
    """The "I have just patched" button: queue a check now (the tick runs it if the task cannot be sent)."""
    check = DriftCheck.objects.create(trigger=DriftCheck.Trigger.PATCHED, requested_by=user)
    record("drift.check_requested", actor=user, target=f"drift check {check.pk}", request=request)
    return check


def claim_and_run(check_id: int) -> CheckResult | None:
    now = timezone.now()
    claimed = DriftCheck.objects.filter(pk=check_id, status=DriftCheck.Status.PENDING).update(
        status=DriftCheck.Status.RUNNING, started_at=now
    )
    if not claimed:
        return None
    try:
        return run_check(DriftCheck.objects.get(pk=check_id), now)
    except DatabaseError:
        _hand_back(check_id, now)
        raise


def _hand_back(check_id: int, claimed_at: datetime) -> None:
    """The database failed mid-check (a restart, a cut connection): the next tick (15 s) runs the check again,
    instead of leaving it "running" for ``STUCK_AFTER``. With the database still away, that rule remains."""
    if not connection.in_atomic_block:
        connection.close()  # a broken connection is opened afresh by the next query
    try:
        DriftCheck.objects.filter(pk=check_id, status=DriftCheck.Status.RUNNING, started_at=claimed_at).update(
            status=DriftCheck.Status.PENDING
        )
    except DatabaseError:
        log.warning("drift check %s: the database is still unreachable; it runs again once it is back", check_id)


def run_due(now: datetime | None = None) -> list[CheckResult]:
    """From the tick: the scheduled check when due, requested checks, and stuck ones again."""
    now = now or timezone.now()
    DriftCheck.objects.filter(status=DriftCheck.Status.RUNNING, started_at__lt=now - STUCK_AFTER).update(
        status=DriftCheck.Status.PENDING
    )
    settings_row = LoadSettings.load()
    if settings_row.next_drift_check_at <= now:
        following = now + timedelta(hours=settings_row.drift_check_interval_hours)
        if LoadSettings.objects.filter(pk=settings_row.pk, next_drift_check_at=settings_row.next_drift_check_at).update(
            next_drift_check_at=following
        ):
            DriftCheck.objects.create(trigger=DriftCheck.Trigger.SCHEDULE)
    results = []
    for check_id in DriftCheck.objects.filter(status=DriftCheck.Status.PENDING).values_list("id", flat=True):
        if result := claim_and_run(check_id):
            results.append(result)
    return results


# --- Approving -----------------------------------------------------------------------------


class CannotApprove(ValueError):
    pass


def approve(finding: DriftFinding, user, note: str, request=None) -> None:
    """Make what was found the approved baseline (or accept a removal), with the note, in the audit log."""
    if not finding.is_open:
        raise CannotApprove("This finding is already closed.")
    if finding.kind == Kind.UNREADABLE:
        raise CannotApprove("An unreadable file cannot become a baseline: fix its permissions and check again.")
    now = timezone.now()
    with transaction.atomic():
        if finding.kind == Kind.MISSING:
            DriftBaseline.objects.filter(path=finding.path).delete()
        else:
            DriftBaseline.objects.update_or_create(
                path=finding.path,
                defaults={
                    "kind": finding.new_kind or DriftBaseline.Kind.TEXT,
                    "sha256": finding.new_sha256,
                    "size": finding.new_size or 0,
                    "content": finding.new_content,
                    "approved_at": now,
                    "approved_by": user,
                    "note": note,
                },
            )
        finding.resolved_at, finding.resolved_by, finding.resolution, finding.note = now, user, "approved", note
        finding.save(update_fields=["resolved_at", "resolved_by", "resolution", "note"])
        record(
            "drift.baseline_approved",
            actor=user,
            target=finding.path,
            request=request,
            kind=finding.kind,
            sha256=finding.new_sha256,
            note=note,
        )


def approve_many(findings: list[DriftFinding], user, note: str, request=None) -> tuple[list[str], list[str]]:
    """Approve several findings with one reason (e.g. the 14 new files a new glob found). Each is approved
    and audited on its own, as ``approve`` does; returns (approved paths, "path: why not" for the others)."""
    approved, refused = [], []
    for finding in findings:
        try:
            approve(finding, user, note, request)
        except CannotApprove as exc:
            refused.append(f"{finding.path}: {exc}")
        else:
            approved.append(finding.path)
    return approved, refused


# --- Email -----------------------------------------------------------------------------------


def diff_stats(diff: str) -> tuple[int, int]:
    added = sum(1 for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff.splitlines() if line.startswith("-") and not line.startswith("---"))
    return added, removed


# --- Status for the home page and the executive summary ---------------------------------------------


# What the executive summary says, per situation (findings go to IT by email and the alert channels when
# a check finds them: emails.send_drift_findings).
DRIFT_RISKY = (
    "Mail is at risk: the mail server's settings were changed in a way that could let others send spam"
    " through it. IT has been alerted and is checking it now."
)
DRIFT_CHANGED = (
    "Mail is not known to be at risk, but some mail server settings were changed without approval. IT has"
    " been alerted and is checking them."
)
DRIFT_MINOR = "Mail is not at risk: a few mail server files differ from the approved copy. IT has been told."
DRIFT_NOT_CHECKED = "The mail server's settings have not been checked against the approved copy yet."
DRIFT_NOTHING_WATCHED = "The mail server's settings are not being watched: none of the watched files is on this server."
DRIFT_OK = "Mail is not at risk: the mail server's settings are as IT approved them."


def status_line() -> StatusLine:
    """ "Configuration" in plain words, from stored rows (three queries)."""
    line = partial(StatusLine, "Configuration", url_name="serverload:drift", link_text="Configuration drift")
    findings = list(DriftFinding.objects.filter(resolved_at__isnull=True).values_list("kind", "found_at", "risks"))
    last = DriftCheck.objects.filter(status=DriftCheck.Status.DONE).order_by("-finished_at").first()
    watched = DriftBaseline.objects.count()
    if findings:
        serious = any(kind in {Kind.CHANGED, Kind.MISSING, Kind.UNREADABLE} or risks for kind, _, risks in findings)
        since = format_when(min(found for _, found, _ in findings))
        count = len(findings)
        text = f"{count} configuration file{'s' if count != 1 else ''} not as approved (since {since})."
        risky = sum(1 for *_, risks in findings if risks)
        if risky:
            text += f" {risky} of them open{'s' if risky == 1 else ''} the server (e.g. to relaying): check now."
        plain = DRIFT_RISKY if risky else DRIFT_CHANGED if serious else DRIFT_MINOR
        return line("critical" if serious else "warning", text, plain=plain)
    if last is None:
        return line("unknown", "Not checked yet.", plain=DRIFT_NOT_CHECKED)
    when = format_when(last.finished_at)
    if not watched:
        return line("unknown", f"None of the watched files is on this server ({when}).", plain=DRIFT_NOTHING_WATCHED)
    text = f"All {watched} watched file{'s' if watched != 1 else ''} as approved (checked {when})."
    return line("ok", text, plain=DRIFT_OK)
