"""The block-list app's message: the alert of a sweep that changed something, to IT by email and channels."""

from __future__ import annotations

from urllib.parse import urlencode

from portal.outbox import absolute_url, alert_it


def send_sweep_alert(sweep, lines: list[str]) -> list:
    """One alert per sweep (its key); critical when a monitored address or domain is newly listed."""
    severity = "critical" if any(line.startswith("LISTED:") for line in lines) else "warning"
    from monitoring.dnsbl.diagnosis import diagnose
    from monitoring.dnsbl.models import DnsblSchedule, DnsblZone

    # Most lists failing at once is a problem on our side: say its cause and fix, whatever started the sweep.
    diagnosis = diagnose(list(DnsblZone.objects.filter(enabled=True)), DnsblSchedule.load())
    context = {
        "sweep": sweep,
        "lines": lines,
        "diagnosis": diagnosis,
        "dashboard_url": absolute_url("dnsbl:dashboard"),
    }
    if severity == "critical":
        # The likely cause of a new listing: who sent most in the hours before it (the sending guard's page,
        # linked by URL name only: this app imports no other monitoring app).
        when = (sweep.finished_at or sweep.created_at).isoformat()
        context["top_senders_url"] = absolute_url("sending:top_senders") + "?" + urlencode({"until": when, "hours": 3})
    return alert_it("monitoring-dnsbl-alert", f"dnsbl.alert:{sweep.pk}", severity, context)
