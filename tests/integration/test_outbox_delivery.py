"""The outbox end to end: real Redis, real Celery worker processes, real SMTP and a real HTTP receiver."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable

import pytest
from django.utils import timezone

from portal import outbox
from portal.models import AlertChannel, OutboxMessage
from tests.services import wait_until

Status = OutboxMessage.Status


pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_producer_pools")]


def seen(worker) -> Callable[[], str]:
    return lambda: (
        f"rows: {list(OutboxMessage.objects.values_list('key', 'status', 'last_error'))[:20]}\n{worker.log()}"
    )


def worker_env(smtp_server) -> dict[str, str]:
    return {**smtp_server.env(), "OUTBOX_RETRY_SECONDS": "1", "ALERT_CHANNEL_TIMEOUT": "3"}


def test_with_smtp_down_the_channel_alert_arrives_at_once_and_the_email_once_smtp_is_back(
    celery_worker_factory, celery_app, smtp_server, http_receiver, make_user
):
    it_staff = make_user("ivan@example.com", role="it_staff")
    AlertChannel.objects.create(name="Webhook", url=f"json://{http_receiver.url}/hook", severities=["critical"])
    smtp_server.stop()
    worker = celery_worker_factory(concurrency=2, env=worker_env(smtp_server))
    rows = outbox.alert_it("accounts-overdue", "it:smtp-down", "critical", {"overdue": [it_staff]})
    assert len(rows) == 2
    celery_app.send_task("portal.outbox_tick")  # one tick
    wait_until(lambda: len(http_receiver.received("/hook")) == 1, timeout=30, describe=seen(worker))
    email = OutboxMessage.objects.get(key="it:smtp-down|email")
    wait_until(lambda: OutboxMessage.objects.get(pk=email.pk).attempts >= 1, timeout=30, describe=seen(worker))
    email.refresh_from_db()
    assert email.status in (Status.PENDING, Status.SENDING) and "refused" in email.last_error.lower()

    smtp_server.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not smtp_server.messages:
        celery_app.send_task("portal.outbox_tick")  # what beat does every 30 s
        time.sleep(1)
    wait_until(lambda: OutboxMessage.objects.get(pk=email.pk).status == Status.SENT, timeout=30, describe=seen(worker))
    celery_app.send_task("portal.outbox_tick")
    time.sleep(2)  # nothing more arrives
    assert [m.rcpt_tos for m in smtp_server.messages] == [[it_staff.email]]
    assert len(http_receiver.received("/hook")) == 1
    assert OutboxMessage.objects.get(pk=email.pk).last_error == ""


def test_one_hanging_channel_holds_neither_email_nor_the_other_channel(
    celery_worker_factory, celery_app, smtp_server, http_receiver, make_user
):
    from tests.http_receiver import HTTPReceiver

    it_staff = make_user("ivan@example.com", role="it_staff")
    healthy = HTTPReceiver().start()
    try:
        AlertChannel.objects.create(name="Dead", url=f"json://{http_receiver.url}/dead", severities=["warning"])
        AlertChannel.objects.create(name="Alive", url=f"ntfy://{healthy.url}/it-alerts", severities=["warning"])
        http_receiver.hang(60)
        worker = celery_worker_factory(concurrency=2, env=worker_env(smtp_server))
        outbox.alert_it("accounts-overdue", "it:hang", "warning", {"overdue": [it_staff]})
        wait_until(
            lambda: len(healthy.received()) == 1 and len(smtp_server.messages) == 1, timeout=30, describe=seen(worker)
        )
        dead = OutboxMessage.objects.get(key__endswith="|channel:" + str(AlertChannel.objects.get(name="Dead").pk))
        wait_until(lambda: OutboxMessage.objects.get(pk=dead.pk).attempts >= 1, timeout=30, describe=seen(worker))
        wait_until(
            lambda: OutboxMessage.objects.get(pk=dead.pk).status == Status.PENDING, timeout=30, describe=seen(worker)
        )
        assert AlertChannel.objects.get(name="Dead").last_result_ok is False
    finally:
        healthy.stop()


def test_a_worker_killed_mid_send_and_restarted_sends_each_message_once(
    celery_worker_factory, celery_app, smtp_server, make_user
):
    from portal import sending

    count = 300
    worker = celery_worker_factory(concurrency=2, env=worker_env(smtp_server))
    for i in range(count):
        outbox.send_email("accounts-overdue", f"it:kill:{i}", [f"person{i:04d}@example.com"], {"overdue": []})
    wait_until(lambda: len(smtp_server.messages) >= 40, describe=seen(worker))
    worker.kill()  # SIGKILL: in-flight tasks are neither finished nor acknowledged
    killed_at = Counter(OutboxMessage.objects.values_list("status", flat=True))
    assert killed_at.get(Status.SENT, 0) < count, "everything was sent before the kill; send more"

    # Later ticks re-publish what the dead worker held (its tasks, rows left "sending").
    outbox.tick(timezone.now() + sending.STUCK_SENDING_AFTER + dt.timedelta(minutes=1))
    noted = OutboxMessage.objects.filter(status=Status.UNCERTAIN).values_list("to", flat=True)
    handed_over = {to[0] for to in noted}
    assert len(handed_over) <= 2, handed_over  # at most one per worker process
    worker = celery_worker_factory(concurrency=2, env=worker_env(smtp_server))
    expected = count - len(handed_over)

    def done() -> bool:
        statuses = Counter(OutboxMessage.objects.values_list("status", flat=True))
        uncertain = Counter({Status.UNCERTAIN: len(handed_over)}) if handed_over else Counter()
        return statuses == Counter({Status.SENT: expected}) + uncertain and len(smtp_server.messages) >= expected

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not done():
        celery_app.send_task("portal.outbox_tick")
        time.sleep(2)
    assert done(), f"killed at {killed_at}; now {Counter(OutboxMessage.objects.values_list('status', flat=True))}"
    time.sleep(1)
    received = Counter(mail.rcpt_tos[0] for mail in smtp_server.messages)
    assert max(received.values()) == 1, f"a duplicate; killed at {killed_at}"
    missing = {f"person{i:04d}@example.com" for i in range(count)} - set(received)
    assert missing <= handed_over, f"killed at {killed_at}, handed over {handed_over}"
