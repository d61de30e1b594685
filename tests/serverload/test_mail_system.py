"""The mail system is up or it is not (issue 13), chosen from a list and never run through a shell
(issue 14): process detection without root, queue age and deferral reasons, the mail-path services'
heartbeats, loopback mail, and what executives see."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring.serverload import alerts, mailsystem
from monitoring.serverload.mailqueue import normalise_reason, parse_queue_output
from monitoring.serverload.models import LoadAlert, LoadSettings, LoadThreshold, MailSystemAlert
from monitoring.serverload.sampling import ProcessInfo, _loopback_hex, identify
from portal.models import Heartbeat
from tests.conftest import deliver_outbox
from tests.serverload.test_sampling_queue import POSTQUEUE_J

pytestmark = pytest.mark.django_db


def test_postfix_and_dovecot_children_are_found_without_exe():
    # What a non-root worker can read: names, command lines and parents; exe() is refused (None).
    processes = [
        ProcessInfo(100, "master", 1, "/usr/lib/postfix/sbin/master -w"),
        ProcessInfo(101, "qmgr", 100, "qmgr -l -t unix -u"),
        ProcessInfo(102, "pickup", 100, "pickup -l -t unix -u"),
        ProcessInfo(103, "smtpd", 100, "smtpd -n smtp -t inet -u -o stress="),
        ProcessInfo(200, "dovecot", 1, "/usr/sbin/dovecot -F"),
        ProcessInfo(201, "auth", 200, "dovecot/auth"),
        ProcessInfo(202, "imap-login", 200, "dovecot/imap-login"),
        ProcessInfo(300, "master", 1, "/opt/build/bin/master --serve"),  # another program's "master"
        ProcessInfo(301, "auth", 300, "auth --worker"),
    ]
    labels = identify(processes)
    assert {pid for pid, label in labels.items() if label == "Postfix"} == {100, 101, 102, 103}
    assert {pid for pid, label in labels.items() if label == "Dovecot"} == {200, 201, 202}
    assert 300 not in labels and 301 not in labels


def test_the_queue_reading_has_the_oldest_message_and_the_most_common_deferral_reasons():
    reading = parse_queue_output(POSTQUEUE_J, now=1764320000 + 5 * 3600)
    assert reading.oldest_age == 5 * 3600 + 10000  # the held message arrived at 1764310000
    assert reading.deferred_age == 5.0  # hours, the oldest deferred message
    assert reading.reasons == [
        ["connect to <host>: Connection timed out", 1],
        ["host <host> said: 450 4.2.0 Greylisted (in reply to RCPT TO)", 1],
    ]
    assert normalise_reason("connect to mx.a.example[192.0.2.1]:25: Connection timed out") == normalise_reason(
        "connect to mx.b.example[2001:db8::1]:25: Connection timed out"
    )


def test_an_alert_fires_when_the_oldest_deferred_message_passes_4_hours(make_load_sample):
    now = timezone.now()
    LoadThreshold.ensure_defaults()
    for minutes in (0, 3, 6):
        sample = make_load_sample(now + timedelta(minutes=minutes), deferred_age=4.5, queue=12, queue_deferred=12)
        events = alerts.evaluate(sample)
    assert events == {"deferred_age": "raised"}
    alert = LoadAlert.objects.get(metric="deferred_age")
    assert (alert.unit, alert.warning_mark) == ("hours", 4)
    sample.deferral_reasons = [["connect to <host>: Connection timed out", 12]]
    sample.save()
    assert alert.queue_facts() == sample


def test_loopback_peers_are_not_outgoing_smtp():
    assert _loopback_hex("0100007F") and _loopback_hex("0200007F")  # 127.0.0.1, 127.0.0.2
    assert _loopback_hex("00000000000000000000000001000000")  # ::1
    assert _loopback_hex("0000000000000000FFFF00000100007F")  # ::ffff:127.0.0.1
    assert not _loopback_hex("0A02000A") and not _loopback_hex("0000000000000000FFFF00000A02000A")


def test_the_mail_system_down_is_critical_first_and_clears(make_load_sample):
    now = timezone.now()
    make_load_sample(now - timedelta(minutes=1), cpu=95)
    sample = make_load_sample(now, mail_problems=["the mail queue cannot be read"], queue_status="error",
                              queue_error="postqueue exited 69: fatal: Queue report unavailable")  # fmt: skip
    assert mailsystem.evaluate(sample, now) == {"mail_system": "raised"}
    line = alerts.status_line()
    assert line.status == "critical"
    assert line.text.startswith("Mail system down since") and "The mail queue cannot be read" in line.text
    assert "postqueue" not in line.text
    back = make_load_sample(now + timedelta(minutes=1))
    assert mailsystem.evaluate(back, now + timedelta(minutes=1)) == {"mail_system": "cleared"}
    assert alerts.status_line().status == "ok"


def test_a_silent_mail_path_service_is_down_until_it_reports(make_load_sample, it_staff, smtp_server, settings):
    now = timezone.now()
    make_load_sample(now)
    settings.MAIL_SERVICE_HEARTBEAT_INTERVAL = 60
    Heartbeat.objects.create(name="mail_auth", last_seen=now - timedelta(minutes=10))
    Heartbeat.objects.create(name="mail_policy", last_seen=now - timedelta(seconds=30))
    Heartbeat.objects.create(name="mail_old", last_seen=now - timedelta(days=2))  # removed long ago: not shown
    Heartbeat.objects.create(name="worker", last_seen=now - timedelta(hours=1))  # not a mail-path service
    assert mailsystem.evaluate(None, now) == {"service:mail_auth": "raised"}
    line = alerts.status_line()
    assert line.status == "critical" and "App-password verifier (mail_auth) down since" in line.text
    assert deliver_outbox() == 1
    assert "[CRITICAL] App-password verifier (mail_auth) down" in smtp_server.messages[-1].subject
    Heartbeat.beat("mail_auth")
    assert mailsystem.evaluate(None, timezone.now()) == {"service:mail_auth": "cleared"}
    assert deliver_outbox() == 1
    assert alerts.status_line().status == "ok"


def test_a_service_never_seen_is_not_configured_and_not_shown(make_load_sample):
    make_load_sample(timezone.now())
    assert mailsystem.evaluate(None) == {}
    assert not MailSystemAlert.objects.exists()


def test_executives_see_a_status_word_never_command_output(client, login, executive, it_staff, make_load_sample):
    output = "postqueue exited 75: fatal: open /etc/postfix/main.cf: Permission denied"
    make_load_sample(timezone.now(), queue_status="error", queue=None, queue_error=output,
                     mail_problems=["the mail queue cannot be read"])  # fmt: skip
    mailsystem.evaluate(alerts.LoadSample.objects.get(), timezone.now())
    login(client, executive)
    for url in (reverse("serverload:dashboard"), "/", reverse("policies:summary")):
        page = client.get(url).content.decode()
        assert "Permission denied" not in page and "postqueue" not in page, url
    assert "Queue not readable" in client.get(reverse("serverload:dashboard")).content.decode()
    login(client, it_staff)
    assert "Permission denied" in client.get(reverse("serverload:dashboard")).content.decode()


def _settings_post(client, **values):
    form = client.get(reverse("serverload:settings")).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update({"t-TOTAL_FORMS": 0, "t-INITIAL_FORMS": 0, **values})
    return client.post(reverse("serverload:settings"), data)


@pytest.mark.parametrize(
    ("system", "binary", "message"),
    [
        ("postfix", "/bin/sh", "The program must be postqueue"),
        ("postfix", "postqueue", "Give an absolute path"),
        ("postfix", "/usr/sbin/../bin/postqueue", "Give an absolute path"),
        ("exim", "/usr/sbin/postqueue", "The program must be exim or exim4"),
        ("auto", "/usr/sbin/postqueue", "Choose Postfix or Exim"),
    ],
)
def test_the_mail_system_is_chosen_from_a_list_never_a_command_line(client, login, it_staff, system, binary, message):
    login(client, it_staff)
    response = _settings_post(client, mail_system=system, mail_binary=binary)
    assert response.status_code == 200 and message in response.content.decode()
    assert LoadSettings.load().mail_binary == ""


def test_a_valid_mail_system_is_saved_and_the_old_unmapped_command_warning_goes(client, login, it_staff):
    LoadSettings.objects.update_or_create(pk=1, defaults={"unmapped_queue_command": "/bin/sh -c 'postqueue -j'"})
    login(client, it_staff)
    page = client.get(reverse("serverload:settings")).content.decode()
    assert "queue program, so it is no longer run" in page and "/bin/sh -c" in page
    assert _settings_post(client, mail_system="postfix", mail_binary="/usr/sbin/postqueue").status_code == 302
    saved = LoadSettings.load()
    assert (saved.mail_system, saved.mail_binary, saved.unmapped_queue_command) == (
        "postfix",
        "/usr/sbin/postqueue",
        "",
    )
