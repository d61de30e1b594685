"""Risky-change rules (issue 13): each change that opens the server is flagged in a plain sentence and
makes its finding critical; the Debian defaults and harmless changes are not flagged."""

from __future__ import annotations

import ipaddress

import pytest

from monitoring.serverload import drift
from monitoring.serverload.drift_rules import risks
from monitoring.serverload.models import DriftCheck, LoadSettings
from monitoring.status import status_lines
from tests.conftest import deliver_outbox

LOCAL = [ipaddress.ip_network("192.168.10.0/24")]
DEBIAN_MAIN_CF = (
    "smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination\n"
    "mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128\n"
)
MAIN = "/etc/postfix/main.cf"


def test_the_debian_defaults_are_not_risky():
    assert risks(MAIN, "", DEBIAN_MAIN_CF, {}, LOCAL) == []
    assert risks(MAIN, DEBIAN_MAIN_CF, DEBIAN_MAIN_CF + "mynetworks = 127.0.0.0/8 192.168.10.0/24\n", {}, LOCAL) == []


def test_mynetworks_wider_than_the_local_network():
    [risk] = risks(MAIN, DEBIAN_MAIN_CF, DEBIAN_MAIN_CF.replace("127.0.0.0/8", "0.0.0.0/0"), {}, LOCAL)
    assert risk.startswith("mynetworks now trusts 0.0.0.0/0, wider than this server's own network")
    [risk] = risks(MAIN, DEBIAN_MAIN_CF, DEBIAN_MAIN_CF + "mynetworks = 10.0.0.0/8\n", {}, LOCAL)
    assert "10.0.0.0/8" in risk


@pytest.mark.parametrize(
    "setting",
    [
        "smtpd_relay_restrictions = permit_mynetworks permit",
        "smtpd_relay_restrictions =\nsmtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated",
        "smtpd_relay_restrictions = permit_sasl_authenticated,\n    permit",
    ],
)
def test_relay_and_recipient_restrictions_without_reject_unauth_destination(setting):
    [risk] = risks(MAIN, DEBIAN_MAIN_CF, DEBIAN_MAIN_CF + setting + "\n", {}, LOCAL)
    assert "rejects unauthorised destinations (reject_unauth_destination)" in risk
    assert "relays mail for anyone" in risk


def test_recipient_restrictions_with_reject_unauth_destination_are_not_risky():
    cf = DEBIAN_MAIN_CF + "smtpd_recipient_restrictions = permit_sasl_authenticated, reject_unauth_destination\n"
    assert risks(MAIN, DEBIAN_MAIN_CF, cf, {}, LOCAL) == []


def test_disable_plaintext_auth_no():
    path = "/etc/dovecot/conf.d/10-auth.conf"
    [risk] = risks(path, "disable_plaintext_auth = yes\n", "disable_plaintext_auth = no\n", {}, LOCAL)
    assert risk.startswith("disable_plaintext_auth = no: passwords may be sent without encryption")


def test_ssl_no():
    path = "/etc/dovecot/conf.d/10-ssl.conf"
    [risk] = risks(path, "ssl = required\n", "ssl = no\n", {"ssl": "no"}, LOCAL)
    assert risk.startswith("ssl = no:")


def test_auth_mechanisms_gaining_plain_without_tls():
    path = "/etc/dovecot/conf.d/10-auth.conf"
    before, after = "auth_mechanisms = cram-md5\n", "auth_mechanisms = cram-md5 plain\n"
    [risk] = risks(path, before, after, {"ssl": "no"}, LOCAL)
    assert risk.startswith("auth_mechanisms gained plain")
    assert risks(path, before, after, {"ssl": "required", "disable_plaintext_auth": "yes"}, LOCAL) == []


def test_a_risky_change_is_a_critical_finding_everywhere(tmp_path, db, client, login, it_staff, smtp_server):
    conf = tmp_path / "dovecot" / "conf.d"
    conf.mkdir(parents=True)
    (conf / "10-ssl.conf").write_text("ssl = required\n")
    LoadSettings.objects.update_or_create(pk=1, defaults={"watched_files": str(conf / "*.conf")})
    drift.run_check(DriftCheck.objects.create(status="running"))
    (conf / "10-ssl.conf").write_text("ssl = no\n")
    result = drift.run_check(DriftCheck.objects.create(status="running"))
    [finding] = result.new_findings
    assert finding.severity == "critical" and finding.risk_list()[0].startswith("ssl = no:")
    line = next(line for line in status_lines() if line.area == "Configuration")
    assert line.status == "critical" and "opens the server" in line.text
    assert deliver_outbox() == 1
    assert "CRITICAL: ssl = no:" in smtp_server.messages[-1].text()
    login(client, it_staff)
    assert (
        "ssl = no: IMAP and POP3 connections are not encrypted"
        in client.get("/monitoring/load/drift/").content.decode()
    )
