"""Configuration drift: compare watched files with their approved baseline.

A check reads every watched file (globs expanded) and compares its SHA-256
with the baseline. A change is a finding with a unified diff; IT staff approve
the new state as the baseline (with a note, audited) or leave the finding open.
A file that is missing, unreadable, not a regular file, binary or over 256 KiB
is a finding too: nothing here raises on a bad file.

The first check on an installation takes the files as they are as the
baseline; files that appear later under a watched pattern are "new" findings.
"""

from __future__ import annotations

import difflib
import glob
import hashlib
import logging
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatch
from functools import partial

from django.db import transaction
from django.utils import timezone

from accounts.audit import record
from monitoring.serverload import emails
from monitoring.serverload.models import DriftBaseline, DriftCheck, DriftFinding, LoadSettings
from monitoring.status import StatusLine

log = logging.getLogger(__name__)

MAX_TEXT = 256 * 1024
MAX_DIFF = 200 * 1024
STUCK_AFTER = timedelta(minutes=10)
Kind = DriftFinding.Kind


@dataclass
class FileState:
    path: str
    status: str  # text | binary | huge | missing | unreadable
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


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


def expand(patterns: list[str]) -> list[str]:
    paths: set[str] = set()
    for pattern in patterns:
        paths.update(sorted(glob.glob(pattern)) if _is_glob(pattern) else [pattern])
    return sorted(paths)


def watched_by(path: str, patterns: list[str]) -> bool:
    return any(fnmatch(path, p) if _is_glob(p) else path == p for p in patterns)


def read_file(path: str) -> FileState:
    """The state of one file, never raising: text, binary, huge, missing or unreadable."""
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
    if size > MAX_TEXT:
        return FileState(path, "huge", sha, size, error=f"{size:,} bytes: over 256 KiB, compared by checksum only")
    if b"\0" in head:
        return FileState(path, "binary", sha, size, error="binary content: compared by checksum only")
    try:
        text = bytes(head).decode("utf-8")
    except UnicodeDecodeError:
        return FileState(path, "binary", sha, size, error="not UTF-8 text: compared by checksum only")
    return FileState(path, "text", sha, size, text)


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
            if state.status in {"binary", "huge"}:
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
        return {
            "kind": Kind.CHANGED,
            "detail": "the content differs from the approved baseline",
            "diff": diff,
            **old,
            **new,
        }
    return {
        "kind": Kind.CHANGED,
        "detail": f"the checksum changed ({state.error or 'no text to compare'})",
        **old,
        **new,
    }


def run_check(check: DriftCheck, now: datetime | None = None) -> CheckResult:
    """Compare every watched file with its baseline; record findings on ``check``."""
    now = now or timezone.now()
    patterns = LoadSettings.load().watched_patterns()
    baselines = {b.path: b for b in DriftBaseline.objects.all()}
    first_run = not baselines and not DriftCheck.objects.filter(status=DriftCheck.Status.DONE).exists()
    paths = sorted(set(expand(patterns)) | {path for path in baselines if watched_by(path, patterns)})
    open_findings = {f.path: f for f in DriftFinding.objects.filter(resolved_at__isnull=True)}
    result = CheckResult(check)
    for path in paths:
        state = read_file(path)
        result.checked.append(path)
        found = _finding_for(state, baselines.get(path), first_run)
        existing = open_findings.get(path)
        with transaction.atomic():
            if first_run and state.status in {"text", "binary", "huge"} and path not in baselines:
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
    return run_check(DriftCheck.objects.get(pk=check_id), now)


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


# --- Email -----------------------------------------------------------------------------------


def diff_stats(diff: str) -> tuple[int, int]:
    added = sum(1 for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff.splitlines() if line.startswith("-") and not line.startswith("---"))
    return added, removed


# --- Status for the home page and the executive summary ---------------------------------------------


def status_line() -> StatusLine:
    """ "Configuration" in plain words, from stored rows (three queries)."""
    line = partial(StatusLine, "Configuration", url_name="serverload:drift", link_text="Configuration drift")
    findings = list(DriftFinding.objects.filter(resolved_at__isnull=True).values_list("kind", "found_at"))
    last = DriftCheck.objects.filter(status=DriftCheck.Status.DONE).order_by("-finished_at").first()
    watched = DriftBaseline.objects.count()
    if findings:
        serious = any(kind in {Kind.CHANGED, Kind.MISSING, Kind.UNREADABLE} for kind, _ in findings)
        since = timezone.localtime(min(found for _, found in findings)).strftime("%Y-%m-%d %H:%M")
        count = len(findings)
        text = f"{count} configuration file{'s' if count != 1 else ''} not as approved (since {since})."
        return line("critical" if serious else "warning", text)
    if last is None:
        return line("unknown", "Not checked yet.")
    when = timezone.localtime(last.finished_at).strftime("%Y-%m-%d %H:%M")
    if not watched:
        return line("unknown", f"None of the watched files is on this server ({when}).")
    text = f"All {watched} watched file{'s' if watched != 1 else ''} as approved (checked {when})."
    return line("ok", text)
