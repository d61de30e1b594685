"""The SMTP path of the outbox engine against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import smtplib
import time

import pytest
from django.utils import timezone

from portal import outbox, sending
from portal.mailer import Mailer, build_email
from portal.models import OutboxMessage

pytestmark = pytest.mark.django_db
Status = OutboxMessage.Status


def _email(to: str = "it@example.com"):
    return build_email("Subject", "Text", "<p>HTML</p>", [to])


def test_an_aborted_data_drops_the_connection_at_once(smtp_server, settings, it_staff):
    """Before: QUIT went into the DATA stream and the worker waited EMAIL_TIMEOUT (20 s) for an answer."""
    settings.EMAIL_TIMEOUT = 20
    row = outbox.send_email("accounts-overdue", "t:abort", [it_staff.email], {"overdue": []})
    claimed_at = timezone.now()
    assert sending.claim(OutboxMessage, row.pk, claimed_at)
    # Another runner takes the row over before this one reaches the commit point.
    OutboxMessage.objects.filter(pk=row.pk).update(claimed_at=timezone.now())
    mailer = Mailer()
    started = time.monotonic()
    try:
        message = build_email(row.subject, row.body_text, row.body_html, row.to)
        policy = sending.RetryPolicy.outbox()
        assert sending.deliver_email(OutboxMessage, row.pk, message, mailer, policy, claimed_at) is None
    finally:
        mailer.close()
    assert time.monotonic() - started < 2, "the worker waited on the aborted DATA"
    assert smtp_server.messages == []  # the server discarded the unterminated message
    # The same mailer is free for the next message at once, on a fresh connection.
    started = time.monotonic()
    mailer.send(_email())
    mailer.close()
    assert time.monotonic() - started < 2 and len(smtp_server.messages) == 1


def test_a_refusal_after_data_also_frees_the_worker_at_once(smtp_server, settings):
    settings.EMAIL_TIMEOUT = 20
    smtp_server.refuse("451 4.3.0 Try again later")
    mailer = Mailer()
    started = time.monotonic()
    with pytest.raises(smtplib.SMTPDataError):
        mailer.send(_email())
    mailer.close()
    assert time.monotonic() - started < 2


def test_a_failed_connect_is_followed_by_a_fresh_connection(smtp_server):
    smtp_server.stop()
    mailer = Mailer()
    with pytest.raises(OSError):
        mailer.send(_email())
    assert mailer.backend is None and mailer.unreachable is not None
    smtp_server.start()
    later = Mailer()  # the next batch
    later.send(_email())
    later.close()
    assert len(smtp_server.messages) == 1


def test_a_batch_with_the_server_down_gives_every_row_the_error_without_waiting(smtp_server, it_staff, settings):
    rows = [outbox.send_email("accounts-overdue", f"t:down{i}", [it_staff.email], {"overdue": []}) for i in range(5)]
    smtp_server.stop()
    retries = outbox.send_emails([row.pk for row in rows])
    assert sorted(retries) == sorted(row.pk for row in rows)
    for row in OutboxMessage.objects.all():
        assert row.status == Status.PENDING and row.attempts == 1 and "Connection refused" in row.last_error
