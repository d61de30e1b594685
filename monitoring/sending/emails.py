"""The sending guard's messages: one function per kind, each a few lines calling the outbox (portal.outbox).

Content lives in ``templates/emails/sending-<kind>-subject.txt``, ``-body.txt`` and ``-body.html``. Keys
come from the event: a limit's window (the hour or day it was reached in) or a suspension, so a batch
written twice, two mail servers sharing counters, or a restarted service never send the same message twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

from portal.outbox import absolute_url, alert_it, send_email

# The paper's advice for a mailbox that sends spam: what the person and IT do before sending is allowed again.
CHECKLIST = (
    "Change the mailbox password (and the portal password if it is the same).",
    "Scan the device that sends mail for malware.",
    "Check that the device's operating system, mail program and anti-virus are patched and up to date.",
    "Revoke the device's app passwords and create new ones once the device is clean.",
)

RULE_TEXT = {
    "hour": "recipients per hour",
    "day": "recipients per day",
    "minute": "messages per minute",
}


def _when(at: float) -> datetime:
    return datetime.fromtimestamp(at, tz=UTC)


def _person_link(user) -> str:
    return absolute_url("sending:person", pk=user.pk) if user else absolute_url("sending:dashboard")


def send_limit_alert(event, user) -> list:
    """A soft mark (warning before the limit) or the limit itself reached, once per person, rule and window."""
    kind = "sending-soft-mark" if event.soft else "sending-limit-reached"
    context = {
        "login": event.login,
        "user": user,
        "rule": RULE_TEXT[event.rule],
        "limit": event.limit,
        "when": _when(event.at),
        "link": _person_link(user),
        "dashboard": absolute_url("sending:dashboard"),
    }
    key = f"sending.{kind.removeprefix('sending-')}:{event.login}:{event.rule}:{event.window_start}"
    return alert_it(kind, key, "warning", context)


def send_suspended(suspension) -> None:
    """The person's sending was suspended: IT (critical) and the person, once per suspension."""
    context = {
        "suspension": suspension,
        "user": suspension.user,
        "evidence": suspension.evidence,
        "checklist": CHECKLIST,
        "link": _person_link(suspension.user),
        "user_page": absolute_url("user_detail", pk=suspension.user.pk),
    }
    alert_it("sending-suspended", f"sending.suspended:{suspension.pk}", "critical", context)
    own = {**context, "link": absolute_url("devices")}
    send_email("sending-suspended-notice", f"sending.suspended-notice:{suspension.pk}", [suspension.user.email], own)


def send_lifted(suspension) -> None:
    """IT staff let the person send again: tell them, once per suspension."""
    context = {"suspension": suspension, "user": suspension.user, "link": absolute_url("devices")}
    send_email("sending-lifted", f"sending.lifted:{suspension.pk}", [suspension.user.email], context)
