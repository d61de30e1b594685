"""Device hygiene: each device's last attestation, "attestation overdue", and the certificate suspension.

The attestations are the policies app's (attestation campaigns about laptops and phones). Accounts must
not import policies (it sits below it), so the policies app *registers* a source here from its
``AppConfig.ready()``: a function that says, per person, when they last answered a device-hygiene
attestation and since when one that reached them is unanswered (``HygieneFacts``).

An answer covers every device the person had when answering. A device is **overdue** when an attestation
that reached its owner after the device was added is still unanswered ``hygiene_grace_days`` later. With
``suspend_when_overdue`` on, an overdue device's certificate is suspended (webmail refuses it, the portal
still opens so that the person can answer) and reinstated as soon as the answer is in: the policies app
calls ``refresh`` for that person right after the answer, and the accounts tick refreshes everyone each
minute (a setting switched off reinstates them there).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.devices import issuing
from accounts.models import Device, DeviceCertificate, DeviceSettings, User

SUSPENDED_REASON = "device check overdue"


@dataclass(frozen=True)
class HygieneFacts:
    last_answer_at: dt.datetime | None = None
    last_answer: str = ""  # e.g. "Monthly device check: all yes"
    pending_since: dt.datetime | None = None  # when an attestation still unanswered reached the person


Source = Callable[[Iterable[int] | None], dict[int, HygieneFacts]]
_sources: list[Source] = []


def register_source(source: Source) -> None:
    if source not in _sources:
        _sources.append(source)


def facts_for(user_ids: Iterable[int] | None) -> dict[int, HygieneFacts]:
    facts: dict[int, HygieneFacts] = {}
    for source in _sources:
        for user_id, found in source(user_ids).items():
            facts[user_id] = found  # one source in practice (policies); a later one would win
    return facts


def refresh(users: Iterable[User] | None = None, now: dt.datetime | None = None) -> dict[str, int]:
    """Bring every device in use (or those of ``users``) up to date; what changed."""
    now = now or timezone.now()
    rules = DeviceSettings.load()
    grace = dt.timedelta(days=rules.hygiene_grace_days)
    devices = Device.objects.filter(state=Device.State.ACTIVE, user__is_active=True)
    user_ids = None
    if users is not None:
        user_ids = [user.pk for user in users]
        devices = devices.filter(user_id__in=user_ids)
    facts = facts_for(user_ids)
    changed = suspended = reinstated = 0
    for device in devices:
        found = facts.get(device.user_id, HygieneFacts())
        covered = found.last_answer_at is not None and found.last_answer_at >= device.created_at
        attested_at = found.last_answer_at if covered else None
        pending = found.pending_since
        overdue_since = None
        if pending is not None and device.created_at < pending and now >= pending + grace:
            overdue_since = pending + grace
        fields = {
            "last_attested_at": attested_at,
            "last_attestation": found.last_answer[:200] if covered else "",
            "hygiene_overdue_since": overdue_since,
        }
        if any(getattr(device, name) != value for name, value in fields.items()):
            Device.objects.filter(pk=device.pk).update(**fields)
            changed += 1
        with transaction.atomic():
            for certificate in device.certificates.usable():
                if overdue_since and rules.suspend_when_overdue:
                    suspended += issuing.suspend(certificate, reason=SUSPENDED_REASON)
                elif certificate.suspended_reason == SUSPENDED_REASON:
                    reinstated += issuing.reinstate(certificate)
    return {"devices_changed": changed, "certificates_suspended": suspended, "certificates_reinstated": reinstated}


def suspended_for_hygiene(certificate: DeviceCertificate) -> bool:
    return certificate.state == DeviceCertificate.State.SUSPENDED and certificate.suspended_reason == SUSPENDED_REASON
