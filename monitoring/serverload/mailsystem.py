"""Is the mail system up? Its queue and master process (from each sample), and the mail-path services'
heartbeats. Each problem is a ``MailSystemAlert`` row: raised when first seen, cleared when gone, one
critical alert each way through the outbox (email and alert channels: the mail server may be what is
down); the "Server load" status line is critical while any is open.

The heartbeat contract for long-running mail-path services (docs/load.md, "Mail-path services"):

- a service calls ``portal.models.Heartbeat.beat("mail_<name>")`` at least every
  ``MAIL_SERVICE_HEARTBEAT_INTERVAL`` seconds while it can answer (``mail_auth``: the app-password
  verifier Dovecot asks; ``mail_policy``: the Postfix policy service);
- a service that beat within the last day but not within ``MAIL_SERVICE_MISSED_BEATS`` intervals is
  down: a critical status line and an alert;
- a name never seen, or not seen for a day, is not configured here and is not shown (so a service that
  was removed stops being reported after a day; its open alert closes saying so).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from monitoring.serverload import emails
from monitoring.serverload.models import LoadSample, MailSystemAlert
from portal.models import Heartbeat

MAIL_SYSTEM = "mail_system"
FORGET_AFTER = Heartbeat.MAIL_SERVICE_FORGOTTEN
# What the known services are called on the pages; another "mail_..." heartbeat shows under its name.
SERVICE_TITLES = {
    "mail_auth": "App-password verifier (mail_auth)",
    "mail_policy": "Postfix policy service (mail_policy)",
}


def service_title(name: str) -> str:
    return SERVICE_TITLES.get(name, f"Mail service {name}")


def services_down(now: datetime) -> dict[str, tuple[str, str]]:
    """key -> (title, plain detail) for each mail-path service that stopped reporting (``Heartbeat.mail_services``)."""
    down = {}
    for name, (last_seen, is_down) in Heartbeat.mail_services(now).items():
        if is_down:
            when = timezone.localtime(last_seen).strftime("%H:%M")
            down[f"service:{name}"] = (service_title(name), f"{service_title(name)} has not reported since {when}")
    return down


def problems_now(sample: LoadSample | None, now: datetime) -> dict[str, tuple[str, str, str]] | None:
    """key -> (title, detail, IT-only error) of every problem seen now; None for the mail system's own key
    when there is no sample to judge it by (it is left as it was)."""
    found: dict[str, tuple[str, str, str]] = {
        key: (title, detail, "") for key, (title, detail) in services_down(now).items()
    }
    if sample is not None and sample.mail_problems:
        detail = "; ".join(sample.mail_problems)
        found[MAIL_SYSTEM] = ("Mail system", detail[0].upper() + detail[1:], sample.queue_error)
    return found


def evaluate(sample: LoadSample | None, now: datetime | None = None) -> dict[str, str]:
    """Raise an alert for each new problem, clear the alerts whose problem is gone. Returns key -> event."""
    now = now or timezone.now()
    found = problems_now(sample, now)
    events = {}
    with transaction.atomic():
        open_alerts = {a.key: a for a in MailSystemAlert.objects.select_for_update().filter(cleared_at__isnull=True)}
        for key, (title, detail, error) in found.items():
            alert = open_alerts.get(key)
            if alert is None:
                alert = MailSystemAlert.objects.create(
                    key=key, title=title, detail=detail, error=error[:300], raised_at=now
                )
                emails.send_mail_down(alert)
                events[key] = "raised"
            elif (alert.detail, alert.error) != (detail, error[:300]):
                alert.detail, alert.error = detail, error[:300]
                alert.save(update_fields=["detail", "error"])
        for key, alert in open_alerts.items():
            if key in found or (key == MAIL_SYSTEM and sample is None):
                continue
            forgotten = (
                key.startswith("service:")
                and not Heartbeat.objects.filter(
                    name=key.removeprefix("service:"), last_seen__gte=now - FORGET_AFTER
                ).exists()
            )
            alert.cleared_at = now
            alert.clear_reason = "not seen for a day: treated as removed" if forgotten else "back to normal"
            alert.save(update_fields=["cleared_at", "clear_reason"])
            emails.send_mail_back(alert)
            events[key] = "cleared"
    return events
