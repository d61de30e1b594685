"""The mail queue from `postqueue -j` (Postfix) and `exim -bpc` (Exim), and a configurable command."""

from __future__ import annotations

import json

from monitoring.serverload.mailqueue import parse_queue_output, read_queue
from monitoring.serverload.models import LoadSettings

POSTQUEUE_J = "\n".join(
    json.dumps(message)
    for message in [
        {
            "queue_name": "deferred",
            "queue_id": "4Xk2Lq1Bz7z9vRt",
            "arrival_time": 1764320000,
            "message_size": 48213,
            "forced_expire": False,
            "sender": "newsletter@example.com",
            "recipients": [
                {
                    "address": "someone@example.net",
                    "delay_reason": "connect to mx.example.net[203.0.113.25]:25: Connection timed out",
                }
            ],
        },
        {
            "queue_name": "deferred",
            "queue_id": "4Xk2Lr0Wq3z9vRv",
            "arrival_time": 1764320011,
            "message_size": 1822,
            "forced_expire": False,
            "sender": "",
            "recipients": [
                {
                    "address": "bounce@example.org",
                    "delay_reason": "host mx.example.org[198.51.100.7] said: 450 4.2.0 Greylisted "
                    "(in reply to RCPT TO)",
                }
            ],
        },
        {
            "queue_name": "active",
            "queue_id": "4Xk2Ls5Hn1z9vRw",
            "arrival_time": 1764320100,
            "message_size": 9001,
            "forced_expire": False,
            "sender": "ceo@example.com",
            "recipients": [{"address": "partner@example.net"}],
        },
        {
            "queue_name": "incoming",
            "queue_id": "4Xk2Lt2Kp8z9vRx",
            "arrival_time": 1764320101,
            "message_size": 700,
            "forced_expire": False,
            "sender": "it@example.com",
            "recipients": [{"address": "all@example.com"}],
        },
        {
            "queue_name": "hold",
            "queue_id": "4Xk2Lv7Mm4z9vRy",
            "arrival_time": 1764310000,
            "message_size": 15000,
            "forced_expire": False,
            "sender": "suspicious@example.biz",
            "recipients": [{"address": "finance@example.com"}],
        },
    ]
)


def test_it_counts_postfix_queues_from_json_lines():
    reading = parse_queue_output(POSTQUEUE_J + "\n")
    assert reading.status == "ok"
    assert (reading.total, reading.active, reading.deferred, reading.hold) == (5, 2, 2, 1)
    assert reading.server == "postfix"


def test_an_empty_postfix_queue_prints_nothing():
    reading = parse_queue_output("")
    assert (reading.status, reading.total, reading.deferred) == ("ok", 0, 0)


def test_it_reads_the_exim_count():
    reading = parse_queue_output("137\n")
    assert (reading.status, reading.total, reading.server) == ("ok", 137, "exim")
    assert reading.deferred is None


def test_unexpected_output_is_an_error_not_a_count():
    reading = parse_queue_output("postqueue: fatal: Queue report unavailable - mail system is down\n")
    assert reading.status == "error"
    assert "unexpected queue output" in reading.error
    assert reading.total is None


def test_the_configured_program_is_run(db, tmp_path):
    script = tmp_path / "postqueue"  # a stand-in for Postfix's program at a path of its own
    script.write_text(f"#!/bin/sh\ntest \"$*\" = -j || exit 64\ncat <<'JSON'\n{POSTQUEUE_J}\nJSON\n")
    script.chmod(0o755)
    LoadSettings.objects.update_or_create(pk=1, defaults={"mail_system": "postfix", "mail_binary": str(script)})
    reading = read_queue(LoadSettings.load())
    assert (reading.status, reading.total, reading.deferred) == ("ok", 5, 2)


def test_a_failing_command_is_an_error_with_its_message(db, tmp_path):
    script = tmp_path / "postqueue"
    script.write_text("#!/bin/sh\necho 'postqueue: fatal: open /etc/postfix/main.cf: No such file' >&2\nexit 75\n")
    script.chmod(0o755)
    LoadSettings.objects.update_or_create(pk=1, defaults={"mail_system": "postfix", "mail_binary": str(script)})
    reading = read_queue(LoadSettings.load())
    assert reading.status == "error"
    assert "exited 75" in reading.error and "main.cf" in reading.error


def test_a_missing_command_is_an_error(db):
    LoadSettings.objects.update_or_create(pk=1, defaults={"mail_system": "exim", "mail_binary": "/nonexistent/exim"})
    reading = read_queue(LoadSettings.load())
    assert reading.status == "error"
    assert "not found" in reading.error
