"""The server-load app's messages to IT (email and alert channels, through the outbox): load alerts, drift."""

from __future__ import annotations

from portal.outbox import absolute_url, alert_it


def _alert_context(alert) -> dict:
    return {"alert": alert, "url": absolute_url("serverload:alert", alert.pk)}


def send_load_raised(alert) -> list:
    """Once per alert (its key); as severe as the alert."""
    return alert_it("monitoring-load-raised", f"serverload.load-raised:{alert.pk}", alert.level, _alert_context(alert))


def send_load_cleared(alert) -> list:
    """Once per alert; to the channels that heard it raised (the alert's highest level)."""
    key = f"serverload.load-cleared:{alert.pk}"
    return alert_it("monitoring-load-cleared", key, alert.level, _alert_context(alert))


def send_mail_down(alert) -> list:
    """Once per mail-system alert: the mail system or a mail-path service is down (always critical)."""
    context = {"alert": alert, "url": absolute_url("serverload:dashboard")}
    return alert_it("monitoring-mail-down", f"serverload.mail-down:{alert.pk}", "critical", context)


def send_mail_back(alert) -> list:
    """Once per mail-system alert, when it clears."""
    context = {"alert": alert, "url": absolute_url("serverload:dashboard")}
    return alert_it("monitoring-mail-back", f"serverload.mail-back:{alert.pk}", "critical", context)


def send_drift_findings(check, findings: list, diff_stats) -> list:
    """One per check that found something new. Diffs stay in the portal: config files may hold secrets.
    Critical when a finding opens the server (risky-change rules), else a warning."""
    rows = [
        {"finding": f, "stats": diff_stats(f.diff), "url": absolute_url("serverload:drift_finding", f.pk)}
        for f in findings
    ]
    context = {"check": check, "rows": rows, "url": absolute_url("serverload:drift")}
    severity = "critical" if any(f.risks for f in findings) else "warning"
    return alert_it("monitoring-drift-findings", f"serverload.drift:{check.pk}", severity, context)
