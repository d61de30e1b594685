"""Drift without leaking (issue 13) and the portal's own secrets (issue 14): a fake sasl_passwd's password
is in neither the database, nor any page, nor any email; secret values are masked in diffs; var/, .env and
globs over the cap are refused; several findings are approved with one reason."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import AuditEvent
from monitoring.serverload import drift
from monitoring.serverload.models import DriftBaseline, DriftCheck, DriftFinding, LoadSettings
from tests.conftest import deliver_outbox

RELAY_PASSWORD = "Relay-Pa55word-9f3k"
NEW_PASSWORD = "Rotated-Pa55word-22x"
DOVECOT_KEY_PASSWORD = "k3y-pa55-hunter2"


@pytest.fixture
def etc(tmp_path, db):
    postfix = tmp_path / "postfix"
    postfix.mkdir()
    (postfix / "main.cf").write_text(
        "myhostname = mail.example.com\n"
        f"smtp_sasl_password_maps = hash:{postfix}/sasl_passwd\n"
        "relayhost = [smtp.relay.example]:587\n"
    )
    (postfix / "sasl_passwd").write_text(f"[smtp.relay.example]:587 mailer:{RELAY_PASSWORD}\n")
    dovecot = tmp_path / "dovecot" / "conf.d"
    dovecot.mkdir(parents=True)
    (dovecot / "10-ssl.conf").write_text(f"ssl = required\nssl_key_password = {DOVECOT_KEY_PASSWORD}\n")
    patterns = [str(postfix / "*.cf"), str(dovecot / "*.conf")]
    LoadSettings.objects.update_or_create(pk=1, defaults={"watched_files": "\n".join(patterns)})
    return tmp_path


def check() -> drift.CheckResult:
    return drift.run_check(DriftCheck.objects.create(status="running"))


def database_text() -> str:
    """Every text the drift and audit tables hold, as the database stores it."""
    chunks = []
    with connection.cursor() as cursor:
        for table in (
            "monitoring_driftbaseline",
            "monitoring_driftfinding",
            "monitoring_driftcheck",
            "accounts_auditevent",
        ):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            chunks.extend(str(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_a_relay_password_is_in_neither_the_database_nor_a_page_nor_an_email(
    etc, client, login, it_staff, executive, smtp_server
):
    check()  # the baseline: main.cf names sasl_passwd, which is watched by checksum only
    sasl = DriftBaseline.objects.get(path=str(etc / "postfix" / "sasl_passwd"))
    assert (sasl.kind, sasl.content) == ("checksum", "")
    (etc / "postfix" / "sasl_passwd").write_text(f"[smtp.relay.example]:587 mailer:{NEW_PASSWORD}\n")
    result = check()
    [finding] = result.new_findings
    assert (finding.path, finding.kind, finding.diff, finding.new_content) == (sasl.path, "changed", "", "")
    assert deliver_outbox() == 1
    drift.approve(finding, it_staff, "Rotated the relay password.")

    login(client, it_staff)
    pages = [
        client.get(reverse("serverload:drift")).content.decode(),
        client.get(reverse("serverload:drift_finding", args=[finding.pk])).content.decode(),
        client.get(reverse("serverload:settings")).content.decode(),
    ]
    login(client, executive)
    pages.append(client.get(reverse("serverload:drift")).content.decode())
    mail = "\n".join(m.text() + m.html() + m.subject for m in smtp_server.messages)
    for secret in (RELAY_PASSWORD, NEW_PASSWORD):
        assert secret not in database_text()
        assert not any(secret in page for page in pages)
        assert secret not in mail
    assert "sasl_passwd" in mail  # the email still says which file changed


def test_secret_values_are_masked_in_diff_mode(etc, client, login, it_staff):
    check()
    baseline = DriftBaseline.objects.get(path=str(etc / "dovecot" / "conf.d" / "10-ssl.conf"))
    assert baseline.content == "ssl = required\nssl_key_password = ********\n"
    (etc / "dovecot" / "conf.d" / "10-ssl.conf").write_text("ssl = required\nssl_key_password = other-secret\n")
    [finding] = check().new_findings
    assert finding.diff == "" and "only values hidden as secrets changed" in finding.detail
    (etc / "dovecot" / "conf.d" / "10-ssl.conf").write_text("ssl = yes\nssl_key_password = third-secret\n")
    [finding] = check().new_findings
    assert "+ssl = yes" in finding.diff and "third-secret" not in finding.diff + finding.new_content
    login(client, it_staff)
    page = client.get(reverse("serverload:drift_finding", args=[finding.pk])).content.decode()
    assert "third-secret" not in page and DOVECOT_KEY_PASSWORD not in page
    assert DOVECOT_KEY_PASSWORD not in database_text() and "other-secret" not in database_text()


def test_a_file_in_the_checksum_only_list_keeps_no_content(etc):
    notes = etc / "postfix" / "header_checks"
    notes.write_text("/^Subject: secret plans/ REJECT\n")
    LoadSettings.objects.filter(pk=1).update(checksum_files=str(notes), watched_files=str(notes))
    check()
    assert DriftBaseline.objects.get(path=str(notes)).content == ""


@pytest.mark.parametrize("relative", ["var/secret_key", "var/*", ".env"])
def test_the_portals_own_secrets_cannot_be_watched(client, login, it_staff, settings, relative):
    login(client, it_staff)
    path = f"{settings.BASE_DIR}/{relative}"
    form = client.get(reverse("serverload:settings")).context["form"]
    data = {**form.initial, "watched_files": path, "checksum_files": ""}
    data = {k: v for k, v in data.items() if v is not None}
    data.update({"t-TOTAL_FORMS": 0, "t-INITIAL_FORMS": 0})
    response = client.post(reverse("serverload:settings"), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "own secrets (var/, .env) cannot be watched" in page or "an environment file holds" in page
    assert path not in LoadSettings.load().watched_files


def test_a_link_to_the_portals_secrets_is_not_read_by_a_check(tmp_path, db, settings):
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    target = settings.VAR_DIR / "secret_key_for_test"
    target.write_text("do-not-copy-this-key")
    link = tmp_path / "innocent.cf"
    link.symlink_to(target)
    LoadSettings.objects.update_or_create(pk=1, defaults={"watched_files": str(tmp_path / "*.cf")})
    try:
        result = check()
    finally:
        target.unlink()
    assert str(link) not in result.checked
    assert any("the portal's own secrets" in note for note in result.notes)
    assert "do-not-copy-this-key" not in database_text()


def test_a_glob_over_the_cap_is_refused_with_a_clear_message(client, login, it_staff, tmp_path, settings):
    settings.DRIFT_MAX_FILES = 5
    for n in range(6):
        (tmp_path / f"f{n}.conf").write_text("x\n")
    login(client, it_staff)
    form = client.get(reverse("serverload:settings")).context["form"]
    data = {k: v for k, v in {**form.initial, "watched_files": str(tmp_path / "*.conf")}.items() if v is not None}
    data.update({"t-TOTAL_FORMS": 0, "t-INITIAL_FORMS": 0})
    response = client.post(reverse("serverload:settings"), data)
    assert "matches more than 5 files; a pattern may match at most 5" in response.content.decode()
    # A check never reads more than the cap either (files may appear after the form accepted a pattern).
    LoadSettings.objects.filter(pk=1).update(watched_files=str(tmp_path / "*.conf"))
    result = check()
    assert len(result.checked) == 5 and "only the first 5 are watched" in result.notes[0]


def test_several_findings_are_approved_together_with_one_reason(etc, client, login, it_staff):
    check()
    for name in ("20-imap.conf", "20-pop3.conf", "20-lmtp.conf"):
        (etc / "dovecot" / "conf.d" / name).write_text("# new\n")
    found = check().new_findings
    assert [f.kind for f in found] == ["new", "new", "new"]
    login(client, it_staff)
    response = client.post(
        reverse("serverload:drift_approve_many"),
        {"findings": [f.pk for f in found], "note": "Dovecot 2.3 split its configuration."},
    )
    assert response.status_code == 302
    assert not DriftFinding.objects.filter(resolved_at__isnull=True).exists()
    assert AuditEvent.objects.filter(action="drift.baseline_approved").count() == 3


def test_the_data_migration_masks_stored_secrets():
    migration = importlib.import_module(
        "monitoring.serverload.migrations.0004_map_queue_command_and_mask_drift_secrets"
    )
    assert migration.mask("ssl_key_password = x\n-db_password=y\nssl_key = </etc/k.pem\n") == (
        "ssl_key_password = ********\n-db_password=********\nssl_key = </etc/k.pem\n"
    )
    assert migration.is_secret_file("/etc/postfix/sasl_passwd") and migration.is_secret_file("/etc/ssl/x.key")
    assert migration.map_command("postqueue -j") == ("postfix", "")
    assert migration.map_command("/usr/local/sbin/postqueue -j") == ("postfix", "/usr/local/sbin/postqueue")
    assert migration.map_command("/usr/sbin/exim4 -bpc") == ("exim", "/usr/sbin/exim4")
    assert migration.map_command("") == ("auto", "")
    assert migration.map_command("/bin/sh -c 'postqueue -j | head'") is None
    assert migration.map_command("'unclosed") is None
