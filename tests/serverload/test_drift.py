"""Configuration drift on temporary files: change, delete, unreadable, binary, huge, new, approve."""

from __future__ import annotations

import os

import pytest

from accounts.models import AuditEvent
from monitoring.serverload import drift
from monitoring.serverload.models import DriftBaseline, DriftCheck, DriftFinding, LoadSettings
from portal.models import OutboxMessage
from tests.conftest import deliver_outbox

MAIN_CF = "smtpd_tls_security_level = may\nsmtpd_tls_protocols = !SSLv2, !SSLv3\nmyhostname = mail.example.com\n"


@pytest.fixture
def etc(tmp_path, db):
    """A fake /etc with Postfix and rspamd files, watched by the portal."""
    (tmp_path / "postfix").mkdir()
    (tmp_path / "rspamd").mkdir()
    (tmp_path / "postfix" / "main.cf").write_text(MAIN_CF)
    (tmp_path / "rspamd" / "actions.conf").write_text("reject = 15;\n")
    patterns = [str(tmp_path / "postfix" / "main.cf"), str(tmp_path / "rspamd" / "*.conf"), str(tmp_path / "mailname")]
    LoadSettings.objects.update_or_create(pk=1, defaults={"watched_files": "\n".join(patterns)})
    return tmp_path


def check() -> drift.CheckResult:
    return drift.run_check(DriftCheck.objects.create(status="running"))


def test_the_first_check_takes_the_files_as_the_baseline(etc):
    result = check()
    assert result.new_findings == []
    assert sorted(result.baselined) == [str(etc / "postfix" / "main.cf"), str(etc / "rspamd" / "actions.conf")]
    baseline = DriftBaseline.objects.get(path=str(etc / "postfix" / "main.cf"))
    assert baseline.content == MAIN_CF
    assert len(baseline.sha256) == 64
    assert result.check.status == "done" and result.check.files_checked == 3  # mailname: watched, not present


def test_a_change_is_a_finding_with_a_unified_diff(etc):
    check()
    (etc / "postfix" / "main.cf").write_text(MAIN_CF.replace("!SSLv2, !SSLv3", "!SSLv2"))

    [finding] = check().new_findings

    assert finding.kind == "changed"
    assert "-smtpd_tls_protocols = !SSLv2, !SSLv3\n+smtpd_tls_protocols = !SSLv2\n" in finding.diff
    assert finding.diff.startswith(f"--- {etc}/postfix/main.cf (approved)\n+++ {etc}/postfix/main.cf (now)\n")


def test_the_same_change_is_reported_once(etc):
    check()
    (etc / "postfix" / "main.cf").write_text(MAIN_CF + "extra = 1\n")
    assert len(check().new_findings) == 1
    assert check().new_findings == []
    assert DriftFinding.objects.count() == 1


def test_an_undone_change_closes_its_finding(etc):
    check()
    (etc / "postfix" / "main.cf").write_text("oops\n")
    check()
    (etc / "postfix" / "main.cf").write_text(MAIN_CF)
    check()
    finding = DriftFinding.objects.get()
    assert (finding.is_open, finding.resolution) == (False, "restored")


def test_a_deleted_file_is_a_finding(etc):
    check()
    (etc / "rspamd" / "actions.conf").unlink()
    [finding] = check().new_findings
    assert (finding.kind, finding.path) == ("missing", str(etc / "rspamd" / "actions.conf"))


def test_a_path_that_became_a_folder_is_unreadable(etc):
    check()
    (etc / "postfix" / "main.cf").unlink()
    (etc / "postfix" / "main.cf").mkdir()
    [finding] = check().new_findings
    assert finding.kind == "unreadable"
    assert "folder" in finding.detail


def test_a_fifo_is_unreadable_and_does_not_block(etc):
    check()
    (etc / "postfix" / "main.cf").unlink()
    os.mkfifo(etc / "postfix" / "main.cf")
    [finding] = check().new_findings
    assert finding.kind == "unreadable"
    assert "not a regular file" in finding.detail


def test_a_file_without_read_permission_is_unreadable(etc, settings):
    folder = settings.VAR_DIR / "drift-permissions"  # under a folder any user may traverse (not /tmp/pytest-of-root)
    folder.mkdir(exist_ok=True)
    folder.chmod(0o755)
    path = folder / "main.cf"
    path.write_text(MAIN_CF)
    path.chmod(0o600)
    as_root = os.geteuid() == 0
    if as_root:  # root reads every file: read it as "nobody", the way an unprivileged worker would
        os.seteuid(65534)
    try:
        state = drift.read_file(str(path))
    finally:
        if as_root:
            os.seteuid(0)
        path.unlink()
    assert (state.status, state.error.lower()) == ("unreadable", "permission denied")


def test_binary_and_huge_files_are_watched_by_checksum(etc):
    (etc / "rspamd" / "model.conf").write_bytes(b"\x00\x01binary\xff")
    (etc / "rspamd" / "big.conf").write_text("x = 1\n" * 50_000)  # 300 kB
    result = check()
    kinds = {f.path.rsplit("/", 1)[1]: f.kind for f in result.new_findings}
    assert kinds == {"model.conf": "binary", "big.conf": "huge"}
    assert DriftBaseline.objects.get(path=str(etc / "rspamd" / "big.conf")).content == ""

    (etc / "rspamd" / "big.conf").write_text("x = 2\n" * 50_000)
    [finding] = check().new_findings
    assert finding.kind == "changed"
    assert finding.diff == ""
    assert "over 256 KiB" in finding.detail


def test_a_new_file_under_a_glob_is_a_finding(etc):
    check()
    (etc / "rspamd" / "greylist.conf").write_text("timeout = 5min;\n")
    [finding] = check().new_findings
    assert (finding.kind, finding.new_content) == ("new", "timeout = 5min;\n")


def test_approving_makes_the_change_the_baseline_and_is_audited(etc, it_staff):
    check()
    (etc / "postfix" / "main.cf").write_text(MAIN_CF + "smtputf8_enable = no\n")
    [finding] = check().new_findings

    drift.approve(finding, it_staff, "Debian point release 12.9 added smtputf8_enable.")

    baseline = DriftBaseline.objects.get(path=finding.path)
    assert baseline.content.endswith("smtputf8_enable = no\n")
    assert baseline.approved_by == it_staff
    assert check().new_findings == []
    event = AuditEvent.objects.get(action="drift.baseline_approved")
    assert event.target == finding.path
    assert event.details["note"] == "Debian point release 12.9 added smtputf8_enable."


def test_approving_a_removal_drops_the_baseline(etc, it_staff):
    check()
    (etc / "rspamd" / "actions.conf").unlink()
    [finding] = check().new_findings
    drift.approve(finding, it_staff, "rspamd replaced by SpamAssassin.")
    assert not DriftBaseline.objects.filter(path=finding.path).exists()
    assert check().new_findings == []


def test_an_unreadable_file_cannot_be_approved(etc, it_staff):
    check()
    (etc / "postfix" / "main.cf").unlink()
    (etc / "postfix" / "main.cf").mkdir()
    [finding] = check().new_findings
    with pytest.raises(drift.CannotApprove):
        drift.approve(finding, it_staff, "whatever")


def test_findings_are_emailed_once_without_the_diff(etc, it_staff, smtp_server):
    check()
    (etc / "postfix" / "main.cf").write_text(MAIN_CF.replace("may", "encrypt") + "secret_password = hunter2\n")
    result = check()
    check()  # nothing new: no second email
    assert deliver_outbox() == 1
    assert deliver_outbox() == 0
    [message] = smtp_server.messages
    assert OutboxMessage.objects.get().key == f"serverload.drift:{result.check.pk}|email"
    assert "1 file not as approved" in message.subject
    assert "main.cf" in message.text()
    assert "hunter2" not in message.text() and "hunter2" not in message.html()
    assert "+2 / -1 lines" in message.text()


def test_the_patched_button_runs_a_check_from_the_tick(etc, it_staff):
    check()
    (etc / "postfix" / "main.cf").write_text("changed\n")
    requested = drift.request_check(it_staff)
    assert AuditEvent.objects.filter(action="drift.check_requested").exists()
    LoadSettings.objects.update(next_drift_check_at=drift.timezone.now() + drift.timedelta(hours=1))

    [result] = drift.run_due()

    assert result.check.pk == requested.pk
    assert result.check.trigger == "patched"
    assert [f.kind for f in result.new_findings] == ["changed"]
    assert drift.claim_and_run(requested.pk) is None  # a redelivered task does nothing


def test_the_scheduled_check_is_claimed_once(etc):
    first = drift.run_due()
    assert len(first) == 1 and first[0].check.trigger == "schedule"
    assert drift.run_due() == []


def test_status_line_says_what_is_wrong(etc):
    assert drift.status_line().status == "unknown"
    check()
    assert drift.status_line().status == "ok"
    (etc / "postfix" / "main.cf").write_text("changed\n")
    check()
    line = drift.status_line()
    assert line.status == "critical"
    assert "1 configuration file not as approved" in line.text


def test_status_line_when_no_watched_file_exists(tmp_path, db):
    LoadSettings.objects.update_or_create(pk=1, defaults={"watched_files": str(tmp_path / "absent.cf")})
    check()
    line = drift.status_line()
    assert (line.status, line.text.split(" (")[0]) == ("unknown", "None of the watched files is on this server")


def test_a_refused_findings_email_is_retried_by_the_outbox_once_however_the_ticks_overlap(etc, it_staff, smtp_server):
    """Ticks come every 15 s and overlap while SMTP is slow: they no longer send, so they cannot send twice."""
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from monitoring.serverload import sampling

    check()
    (etc / "postfix" / "main.cf").write_text("changed\n")
    smtp_server.refuse()
    check()
    assert deliver_outbox() == 0
    smtp_server.refuse(None)
    later = timezone.now() + timedelta(minutes=2)
    LoadSettings.objects.update(next_sample_at=later, next_drift_check_at=later + timedelta(hours=1))
    sampling.tick(later)
    sampling.tick(later)
    assert smtp_server.messages == []
    with time_machine.travel(later):
        assert deliver_outbox() == 1
        assert deliver_outbox() == 0
    assert len(smtp_server.messages) == 1
