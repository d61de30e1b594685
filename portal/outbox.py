"""The outbox: every message to a person or to IT is a row here first, then sent by a task.

The API every app uses (each app keeps its message content in its own ``emails.py``, one function per
kind of message, calling these):

- ``send_email(kind, key, to, context, sensitive=False)``: render ``templates/emails/<kind>-subject.txt``,
  ``-body.txt`` and ``-body.html``, store one row under ``key`` (a second call with the same key is the same
  row), and publish its send once the transaction commits.
- ``alert_it(kind, key, severity, context)``: the same message to IT: one email row to
  ``it_alert_recipients()`` plus one row per enabled alert channel that takes ``severity``.
- ``absolute_url(viewname, ...)``: the one way to build a link for a message.
- ``publish(task, ...)`` / ``publish_on_commit``: the one way to publish a task from a request or a tick;
  it never blocks on a dead broker (the rows stay pending and the outbox tick sends them).

Keys say what a message is about, never when it was made (``accounts.token-reset:<user>:<audit event>``);
the destination is added here (``|email``, ``|channel:<id>``), so each destination is its own row.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from portal import channels, sending, workers
from portal.mailer import build_email, message_id
from portal.models import AlertChannel, OutboxMessage

log = logging.getLogger(__name__)

Status = OutboxMessage.Status
SEVERITIES = {AlertChannel.Severity.WARNING, AlertChannel.Severity.CRITICAL}
BATCH_SIZE = sending.BATCH_SIZE
# Broker connection options for publishing from a request: fail within seconds, never retry in place.
QUICK_PUBLISH = {"max_retries": 0, "socket_connect_timeout": 2, "socket_timeout": 2}


# --- Links, people, rendering ------------------------------------------------------------------------


def absolute_url(viewname: str, *args, **kwargs) -> str:
    """``PORTAL_BASE_URL`` + the view's path, with ``FORCE_SCRIPT_NAME`` (``reverse`` outside a request lacks it)."""
    path = reverse(viewname, args=args or None, kwargs=kwargs or None)
    script = (settings.FORCE_SCRIPT_NAME or "").rstrip("/")
    base = settings.PORTAL_BASE_URL.rstrip("/")
    if script and base.endswith(script):
        base = base[: -len(script)]  # a base URL given with the path already: do not double it
    if script and not path.startswith(script + "/"):
        path = script + path
    return base + path


# Who gets IT alerts by email is the rule of the app that owns people and roles: accounts registers
# ``accounts.directory.it_alert_recipients`` from its AppConfig.ready(), so the outbox imports no app.
_it_recipients: Callable[[], list[str]] | None = None


def register_it_recipients(source: Callable[[], list[str]]) -> None:
    global _it_recipients
    _it_recipients = source


def it_alert_recipients() -> list[str]:
    """The email addresses of the people who get IT alerts (the rule accounts registered)."""
    if _it_recipients is None:
        raise ImproperlyConfigured("no app has said who gets IT alerts (accounts does, in its AppConfig.ready())")
    return _it_recipients()


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(kind: str, context: dict) -> Rendered:
    """``templates/emails/<kind>-subject.txt``, ``-body.txt`` and ``-body.html`` with the portal's context."""
    ctx = {"organisation_name": settings.ORGANISATION_NAME, "base_url": settings.PORTAL_BASE_URL, **context}
    name = f"emails/{kind}"
    return Rendered(
        subject=" ".join(render_to_string(f"{name}-subject.txt", ctx).split())[:300],
        text=render_to_string(f"{name}-body.txt", ctx),
        html=render_to_string(f"{name}-body.html", ctx),
    )


# --- Publishing -------------------------------------------------------------------------------------------


def publish(task, *args, countdown: int | None = None) -> bool:
    """Publish ``task(*args)``; False (logged) when the broker cannot be reached within a few seconds."""
    try:
        with task.app.connection_for_write(transport_options=QUICK_PUBLISH) as connection:
            task.apply_async(args, connection=connection, retry=False, countdown=countdown)
    except Exception as exc:
        log.warning("could not publish %s (%s); the tick takes the work up", task.name, exc.__class__.__name__)
        return False
    return True


def publish_on_commit(task, *args, countdown: int | None = None) -> None:
    transaction.on_commit(lambda: publish(task, *args, countdown=countdown))


def queued_tasks() -> int | None:
    """How many tasks wait in the broker's default queue; None when the broker cannot be asked.

    The ticks compare it with the rows they published: a broker that restarted empty holds none of them.
    """
    from celery import current_app
    from kombu.exceptions import ChannelError

    app = current_app
    try:
        with app.connection_for_read(transport_options=QUICK_PUBLISH) as connection:
            channel = connection.default_channel
            try:
                return channel.queue_declare(queue=app.conf.task_default_queue, passive=True).message_count
            except ChannelError:
                return 0  # no such queue: nothing waits in it
    except Exception as exc:
        log.warning("could not ask the broker for its queue (%s)", exc.__class__.__name__)
        return None


# --- Queueing ---------------------------------------------------------------------------------------------


def email_row(kind: str, key: str, to: list[str], context: dict, *, sensitive: bool = False) -> OutboxMessage:
    """An unsaved email row (for ``queue``); ``send_email`` is this plus ``queue``."""
    rendered = render(kind, context)
    return OutboxMessage(
        key=f"{key}|email",
        kind=kind,
        to=sorted(set(to)),
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
        sensitive=sensitive,
    )


def queue(rows: Iterable[OutboxMessage]) -> list[OutboxMessage]:
    """Store each row once per key and publish the sends after commit. Returns the stored rows."""
    rows = [row for row in rows if row.to or row.channel_id]
    if not rows:
        return []
    now = timezone.now()
    for row in rows:
        row.created_at = row.retry_from = row.queued_at = now
    OutboxMessage.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    stored = list(OutboxMessage.objects.filter(key__in=[row.key for row in rows]).order_by("pk"))
    pending = [row.pk for row in stored if row.status == Status.PENDING]
    if pending:
        transaction.on_commit(lambda: _publish_sends(pending))
    return stored


def _publish_sends(ids: list[int]) -> None:
    from portal import tasks

    rows = OutboxMessage.objects.filter(pk__in=ids, status=Status.PENDING)
    emails = list(rows.filter(channel_name="").values_list("pk", flat=True))
    unpublished = []
    for start in range(0, len(emails), BATCH_SIZE):
        batch = emails[start : start + BATCH_SIZE]
        if not publish(tasks.send_emails, batch):
            unpublished += batch
            break  # the broker is down: the rest would wait out the same timeout
    else:
        for pk in rows.exclude(channel_name="").values_list("pk", flat=True):
            if not publish(tasks.send_channel_message, pk):
                unpublished.append(pk)
                break
    if unpublished:
        # The next tick publishes them at once instead of waiting for the lost-task delay.
        OutboxMessage.objects.filter(pk__in=ids, status=Status.PENDING).update(queued_at=None)


def send_email(kind: str, key: str, to: list[str], context: dict, *, sensitive: bool = False) -> OutboxMessage | None:
    """One email (``sensitive``: the bodies hold a secret link and are blanked once sent)."""
    stored = queue([email_row(kind, key, to, context, sensitive=sensitive)])
    return stored[0] if stored else None


def alert_it(kind: str, key: str, severity: str, context: dict) -> list[OutboxMessage]:
    """Tell IT: an email to ``it_alert_recipients()`` and a message to each enabled channel taking ``severity``."""
    if severity not in SEVERITIES:
        raise ValueError(f"unknown alert severity {severity!r}")
    context = {**context, "severity": severity}
    rows = []
    recipients = it_alert_recipients()
    if recipients:
        rows.append(email_row(kind, key, recipients, context))
    rendered = None
    for channel in AlertChannel.objects.filter(enabled=True):
        if not channel.takes(severity):
            continue
        rendered = rendered or render(kind, context)
        rows.append(channel_row(channel, kind, key, rendered, severity))
    if not rows:
        log.warning("alert %s (%s): no IT staff with an accepted account and no channel to tell", key, kind)
    for row in rows:
        row.severity = severity
    return queue(rows)


def channel_row(channel: AlertChannel, kind: str, key: str, rendered: Rendered, severity: str) -> OutboxMessage:
    return OutboxMessage(
        key=f"{key}|channel:{channel.pk}",
        kind=kind,
        channel=channel,
        channel_name=channel.name,
        severity=severity,
        subject=rendered.subject,
        body_text=rendered.text,
    )


def messages_about(*keys: str):
    """The rows of the messages sent under ``keys`` (every destination), for a page that shows them."""
    about = Q(pk__in=[])
    for key in keys:
        about |= Q(key__startswith=f"{key}|")
    return OutboxMessage.objects.filter(about).defer("body_text", "body_html").order_by("created_at", "pk")


def summary(rows) -> tuple[str, str]:
    """(status, words) for a set of rows: failed if any failed, uncertain if any is, sent when all are, else pending."""
    statuses = [row.status for row in rows]
    if not statuses:
        return "none", "none"
    if Status.FAILED in statuses:
        return Status.FAILED, f"{statuses.count(Status.FAILED)} of {len(statuses)} failed"
    if Status.UNCERTAIN in statuses:
        return Status.UNCERTAIN, f"delivery uncertain for {statuses.count(Status.UNCERTAIN)} of {len(statuses)}"
    if all(status == Status.SENT for status in statuses):
        return Status.SENT, f"{len(statuses)} sent"
    return Status.PENDING, f"{statuses.count(Status.SENT)} of {len(statuses)} sent"


def retry(rows) -> int:
    """Failed and uncertain rows get a fresh day of retries and are published at once ("Retry", "Send again")."""
    ids = list(rows.filter(status__in=[Status.FAILED, Status.UNCERTAIN]).values_list("pk", flat=True))
    count = sending.retry_by_hand(OutboxMessage, OutboxMessage.objects.filter(pk__in=ids))
    if count:
        transaction.on_commit(lambda: _publish_sends(ids))
    return count


# --- Sending (the worker) ---------------------------------------------------------------------------------


def send_emails(ids: list[int]) -> dict[int, int]:
    """Send the email rows ``ids`` (each once; see ``portal.sending``). Returns {id: retry countdown}."""

    def message_for(pk: int):
        row = OutboxMessage.objects.get(pk=pk)
        if not row.to:
            return None, "No recipients."
        email = build_email(row.subject, row.body_text, row.body_html, row.to, message_id=message_id(f"outbox-{pk}"))
        return email, ({"body_text": "", "body_html": ""} if row.sensitive else {})

    return sending.send_batch(OutboxMessage, ids, message_for, sending.RetryPolicy.outbox())


def send_channel_message(pk: int) -> str:
    """Send one channel row through Apprise (bounded by ``ALERT_CHANNEL_TIMEOUT``). Returns the row's status."""
    with workers.working() as me:
        return _send_channel_message(pk, me)


def _send_channel_message(pk: int, me: str) -> str:
    claimed_at = timezone.now()
    if not sending.claim(OutboxMessage, pk, claimed_at, me):
        return "skipped"
    row = OutboxMessage.objects.select_related("channel").get(pk=pk)
    policy = sending.RetryPolicy.outbox()
    channel = row.channel
    if channel is None or not channel.enabled:
        error = "The channel was deleted." if channel is None else "The channel was disabled before sending."
        sending.record_failure(OutboxMessage, pk, claimed_at, error, policy, permanent=True)
        return Status.FAILED
    # At least once: a worker killed during the request sends it again after recovery (an alert twice
    # is better than none); there is no commit point in HTTP to narrow that window.
    outcome = channels.notify(
        channel.url,
        title=row.subject,
        body=row.body_text,
        severity=row.severity,
        timeout=settings.ALERT_CHANNEL_TIMEOUT,
    )
    if outcome.ok:
        sending.mark_sent(OutboxMessage, pk, claimed_at)
    else:
        sending.record_failure(OutboxMessage, pk, claimed_at, outcome.detail, policy)
    AlertChannel.objects.filter(pk=channel.pk).update(
        last_result=outcome.detail, last_result_ok=outcome.ok, last_result_at=timezone.now()
    )
    return OutboxMessage.objects.filter(pk=pk).values_list("status", flat=True).first() or "skipped"


def tick(now=None) -> dict[str, int]:
    """The outbox tick (every ``OUTBOX_TICK_SECONDS``): take back what dead workers held, publish due and lost sends."""
    now = now or timezone.now()
    recovered = sending.recover_abandoned(OutboxMessage, now)
    reachable = sending.retry_reachable(OutboxMessage, now)
    tick = dt.timedelta(seconds=settings.OUTBOX_TICK_SECONDS)
    due = sending.to_publish(OutboxMessage, now, tick=tick, queued_tasks=queued_tasks)
    sending.mark_published(OutboxMessage, due, now)
    if due:
        _publish_sends(due)
    workers.forget_old(now)
    return {**recovered, "reachable": reachable, "published": len(due)}
