"""The company certificate a browser presented, as nginx verified it, against the person's certificates.

nginx (``gateway_nginx_config --client-certificates``) asks browsers for a certificate of the devices CA
(``ssl_verify_client optional``), checks it against ``ca-bundle.pem`` and ``crl.pem``, and always *sets*
two headers on what it passes to the portal, replacing anything a browser sent:

- ``X-SSL-Client-Verify``: ``$ssl_client_verify``: ``SUCCESS``, ``NONE`` or ``FAILED:<OpenSSL's reason>``;
- ``X-SSL-Client-Serial``: ``$ssl_client_serial``: the certificate's serial in hex.

They are read only from a peer in ``TRUSTED_PROXIES`` (nginx); from anyone else the request counts as
"no certificate". nginx knows revocations only from the CRL it loaded at its last reload, so the portal
checks the serial itself, against the person's usable certificates cached with the gateway's user facts
(``accounts.gateway.user_facts``): no database read on the warm path, and a revocation counts at once.

``check`` is the fast decision; ``explain`` (the refusal path only) reads the database to say *why* in
plain words, and ``refused`` writes the audit event (once per browser and reason every few minutes).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone

from accounts import audit
from accounts.models import Device, DeviceCertificate, DeviceSettings

VERIFY_HEADER = "HTTP_X_SSL_CLIENT_VERIFY"
SERIAL_HEADER = "HTTP_X_SSL_CLIENT_SERIAL"
# The same refusal (browser, person, certificate, reason) is audited at most this often.
AUDIT_EVERY_SECONDS = 600

NO_CERTIFICATE_MESSAGE = "This browser has no company certificate. Ask IT to set up this device."


class Verdict:
    OK = "ok"
    MISSING = "no certificate"
    FAILED = "refused by nginx"
    EXPIRED = "expired"
    REVOKED = "revoked"
    SUSPENDED = "suspended: device check overdue"
    FOREIGN = "not a company certificate of this person"


MESSAGES = {
    Verdict.MISSING: NO_CERTIFICATE_MESSAGE,
    Verdict.FOREIGN: NO_CERTIFICATE_MESSAGE,
    Verdict.FAILED: NO_CERTIFICATE_MESSAGE,
    Verdict.EXPIRED: "This device's company certificate has expired. Renew it under “My devices”, or ask IT.",
    Verdict.REVOKED: "This device's company certificate was revoked. Ask IT to set up this device.",
    Verdict.SUSPENDED: "This device's security check is overdue, so its certificate does not open webmail. "
    "Answer the device check under “My policies”: webmail opens again right after.",
}


@dataclass(frozen=True)
class Presented:
    verify: str  # SUCCESS, NONE, FAILED:<reason>, or "" when nginx passed nothing
    serial: str  # serial_key() of the certificate, "" without one

    @property
    def verified(self) -> bool:
        return self.verify == "SUCCESS" and bool(self.serial)


ABSENT = Presented("", "")


def serial_key(value: str) -> str:
    """The one form serials are compared in: lower-case hex without leading zeros ("" if not hex)."""
    try:
        return format(int(value.strip().replace(":", ""), 16), "x") if value.strip() else ""
    except ValueError:
        return ""


def presented(request: HttpRequest) -> Presented:
    """What nginx says about the browser's certificate; nothing when the request did not come through nginx."""
    meta = request.META
    if meta.get("REMOTE_ADDR") not in settings.TRUSTED_PROXIES:
        return ABSENT
    verify = meta.get(VERIFY_HEADER, "")
    if not verify:
        return ABSENT
    return Presented(verify[:200], serial_key(meta.get(SERIAL_HEADER, "")[:100]))


# --- The fast decision (cached facts only) ---------------------------------------------------------------


def rule_for(role: str) -> str:
    return DeviceSettings.load().rule_for(role)


def facts_certificates(user_id: int) -> dict[str, list]:
    """For the gateway's cached user facts: serial -> [not_after (Unix time), device id, suspended]."""
    rows = DeviceCertificate.objects.usable().filter(device__user_id=user_id, device__state=Device.State.ACTIVE)
    return {
        serial: [not_after.timestamp(), device_id, state == DeviceCertificate.State.SUSPENDED]
        for serial, not_after, device_id, state in rows.values_list("serial", "not_after", "device_id", "state")
    }


def check(facts: dict, certificate: Presented, now: float | None = None, *, for_portal: bool = False) -> str:
    """The verdict on ``certificate`` for the person of ``facts``: ``Verdict.OK`` or why not.

    A suspended certificate (device check overdue) still opens the portal, where its owner answers the check."""
    if certificate.verified:
        entry = facts.get("certificates", {}).get(certificate.serial)
        if entry is None:
            return Verdict.FOREIGN  # revoked since nginx loaded its CRL, someone else's, or unknown: see explain()
        not_after, _device, suspended = entry
        if not_after <= (time.time() if now is None else now):
            return Verdict.EXPIRED
        if suspended and not for_portal:
            return Verdict.SUSPENDED
        return Verdict.OK
    if certificate.verify.startswith("FAILED"):
        return Verdict.FAILED
    return Verdict.MISSING


def device_of(facts: dict, certificate: Presented) -> int | None:
    entry = facts.get("certificates", {}).get(certificate.serial) if certificate.verified else None
    return entry[1] if entry else None


# --- The refusal path (may read the database) -------------------------------------------------------------


def explain(user_id: int | str | None, certificate: Presented, verdict: str) -> str:
    """The precise verdict for a refusal: revoked, expired, someone else's, another CA's (database)."""
    if verdict not in (Verdict.FOREIGN, Verdict.FAILED) or not certificate.serial:
        return verdict
    row = DeviceCertificate.objects.filter(serial=certificate.serial).select_related("device").first()
    reason = certificate.verify.partition(":")[2].lower()
    if row is None or str(row.device.user_id) != str(user_id):
        return Verdict.FOREIGN  # another CA's (nginx: "unable to verify"), or another person's
    if row.state == DeviceCertificate.State.REVOKED or "revoked" in reason:
        return Verdict.REVOKED
    if row.not_after <= timezone.now() or "expired" in reason:
        return Verdict.EXPIRED
    return verdict


def message(verdict: str) -> str:
    return MESSAGES.get(verdict, NO_CERTIFICATE_MESSAGE)


def refused(request: HttpRequest, *, user_id, email: str, certificate: Presented, verdict: str, where: str) -> None:
    """Audit a refusal at the gate (serial and address), at most once per browser and reason every few minutes
    (per web process while Redis is unreachable: ``portal.cache`` keeps the flag in the process meanwhile)."""
    from accounts.client_address import client_ip

    ip = client_ip(request) or ""
    about = f"{where}|{user_id}|{ip}|{certificate.serial}|{verdict}"
    key = "devices:refused:" + hashlib.sha256(about.encode()).hexdigest()[:32]  # no spaces in cache keys
    if not cache.add(key, 1, AUDIT_EVERY_SECONDS):
        return
    audit.record(
        "device_certificate.refused",
        actor=None,
        target=email,
        request=request,
        where=where,
        reason=verdict,
        serial=certificate.serial.upper(),
        nginx=certificate.verify or "no answer from nginx",
    )


# --- The portal's own pages ("needed for webmail and the portal") ----------------------------------------


def portal_refusal(request: HttpRequest, user, facts: dict | None = None) -> str:
    """Why ``user`` may not use the portal from this browser ("" when they may), audited like at webmail.

    ``facts`` are the gateway's cached user facts when the caller has them; the password step has none yet."""
    if facts is None:
        facts = {"certificate_rule": rule_for(user.role), "certificates": facts_certificates(user.pk)}
    if facts.get("certificate_rule") != DeviceSettings.Rule.PORTAL:
        return ""
    certificate = presented(request)
    verdict = check(facts, certificate, for_portal=True)
    if verdict == Verdict.OK:
        return ""
    verdict = explain(user.pk, certificate, verdict)
    refused(request, user_id=user.pk, email=user.email, certificate=certificate, verdict=verdict, where="portal")
    return message(verdict)
