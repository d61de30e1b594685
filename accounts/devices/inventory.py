"""Devices: add one, revoke one (its app passwords and certificate go with it), and the lists people see.

"Last seen" combines the three ways a device reaches the mail: webmail through the gateway with its
certificate (``Device.webmail_last_seen_at``) and IMAP/POP3/SMTP logins with its app passwords (written by
the mail login verifier on each ``AppPassword``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from accounts import audit
from accounts.devices import issuing
from accounts.models import AppPassword, Device, DeviceCertificate, User

# "Certificate expiring" on IT staff's list: a certificate in use that ends within this many days.
EXPIRING_DAYS = 30
FILTERS = {
    "expiring": "Certificate expiring",
    "overdue": "Attestation overdue",
    "never_seen": "Never seen",
}


def add(user: User, *, name: str, kind: str, platform: str, by: User | None, request=None) -> Device:
    device = Device.objects.create(user=user, name=name.strip(), kind=kind, platform=platform, created_by=by)
    audit.record(
        "device.added", actor=by, request=request, target=user.email, device=device.pk, name=device.name, kind=kind
    )
    return device


def revoke(device: Device, *, reason: str, by: User | None, request=None) -> bool:
    """Revoke the device, its app passwords and its certificate; False when it was revoked already."""
    with transaction.atomic():
        done = Device.objects.filter(pk=device.pk, state=Device.State.ACTIVE).update(
            state=Device.State.REVOKED, revoked_at=timezone.now(), revoked_by=by, revoked_reason=reason
        )
        if not done:
            return False
        device.state = Device.State.REVOKED
        passwords = 0
        for app_password in AppPassword.objects.usable().filter(device=device):
            passwords += app_password.revoke(reason=_app_password_reason(reason), by=by)
        certificates = issuing.revoke_many(
            device.certificates.all(), reason=DeviceCertificate.RevokeReason.DEVICE_REVOKED, by=by
        )
        audit.record(
            "device.revoked",
            actor=by,
            request=request,
            target=device.user.email,
            device=device.pk,
            name=device.name,
            reason=reason,
            app_passwords=passwords,
            certificates=certificates,
        )
    return True


def _app_password_reason(reason: str) -> str:
    return {
        Device.RevokeReason.OWNER: AppPassword.RevokeReason.OWNER,
        Device.RevokeReason.DEACTIVATED: AppPassword.RevokeReason.DEACTIVATED,
    }.get(reason, AppPassword.RevokeReason.IT_STAFF)


def revoke_certificates_of(user: User, *, reason: str, by: User | None = None) -> int:
    """Every certificate of ``user`` (deactivation, leaving): audited once; the number revoked."""
    with transaction.atomic():
        revoked = issuing.revoke_many(DeviceCertificate.objects.filter(device__user=user), reason=reason, by=by)
        if revoked:
            audit.record("device_certificate.revoked_all", actor=by, target=user.email, count=revoked, reason=reason)
    return revoked


def deactivated(user: User) -> None:
    """The account is deactivated (``accounts.lifecycle``): its devices' certificates are revoked now.

    The devices stay listed as they were (what the person had matters when they leave); their app
    passwords go through ``app_passwords.revoke_all`` in the same hook."""
    revoke_certificates_of(user, reason=DeviceCertificate.RevokeReason.DEACTIVATED)


def revoke_for_inactive_users() -> int:
    """Safety net for the accounts tick: an account made inactive without ``save()`` still loses them."""
    stale = DeviceCertificate.objects.usable().filter(device__user__is_active=False)
    total = 0
    for user in User.objects.filter(pk__in=list(stale.values_list("device__user", flat=True).distinct())):
        total += revoke_certificates_of(user, reason=DeviceCertificate.RevokeReason.DEACTIVATED)
    return total


# --- What people see ------------------------------------------------------------------------------------------


@dataclass
class DeviceRow:
    device: Device
    app_passwords: list[AppPassword]
    certificate: DeviceCertificate | None
    mail_last_seen_at: dt.datetime | None
    mail_last_service: str

    @property
    def last_seen_at(self) -> dt.datetime | None:
        seen = [at for at in (self.device.webmail_last_seen_at, self.mail_last_seen_at) if at]
        return max(seen) if seen else None

    @property
    def last_seen_via(self) -> str:
        if self.last_seen_at is None:
            return ""
        if self.device.webmail_last_seen_at == self.last_seen_at:
            return "webmail"
        return self.mail_last_service.upper() or "mail"

    @property
    def certificate_expiring(self) -> bool:
        cert = self.certificate
        return (
            bool(cert)
            and cert.state == DeviceCertificate.State.ACTIVE
            and (cert.not_after <= timezone.now() + dt.timedelta(days=EXPIRING_DAYS))
        )


def rows_of(devices: QuerySet) -> list[DeviceRow]:
    devices = devices.select_related("user").prefetch_related(
        Prefetch("app_passwords", queryset=AppPassword.objects.order_by("-created_at")),
        Prefetch(
            "certificates",
            queryset=DeviceCertificate.objects.usable().select_related("ca").order_by("-issued_at", "-id"),
            to_attr="usable_certificates",
        ),
    )
    rows = []
    for device in devices:
        passwords = list(device.app_passwords.all())
        used = [p for p in passwords if p.last_used_at]
        newest = max(used, key=lambda p: p.last_used_at) if used else None
        rows.append(
            DeviceRow(
                device=device,
                app_passwords=passwords,
                certificate=device.usable_certificates[0] if device.usable_certificates else None,
                mail_last_seen_at=newest.last_used_at if newest else None,
                mail_last_service=newest.last_used_service if newest else "",
            )
        )
    return rows


def rows_for(user: User, *, active: bool = True) -> list[DeviceRow]:
    state = Device.State.ACTIVE if active else Device.State.REVOKED
    return rows_of(Device.objects.filter(user=user, state=state))


def filtered(kind: str = "", query: str = "", now: dt.datetime | None = None) -> QuerySet:
    """Devices in use across the organisation, narrowed by one of ``FILTERS`` and a name or address."""
    now = now or timezone.now()
    devices = Device.objects.filter(state=Device.State.ACTIVE, user__is_active=True)
    if query:
        devices = devices.filter(Q(name__icontains=query) | Q(user__email__icontains=query))
    if kind == "expiring":
        expiring = DeviceCertificate.objects.filter(
            device=OuterRef("pk"),
            state=DeviceCertificate.State.ACTIVE,
            not_after__lte=now + dt.timedelta(days=EXPIRING_DAYS),
        )
        newer_fine = DeviceCertificate.objects.usable().filter(
            device=OuterRef("pk"), not_after__gt=now + dt.timedelta(days=EXPIRING_DAYS)
        )
        devices = devices.filter(Exists(expiring)).exclude(Exists(newer_fine))
    elif kind == "overdue":
        devices = devices.filter(hygiene_overdue_since__isnull=False)
    elif kind == "never_seen":
        used = AppPassword.objects.filter(device=OuterRef("pk"), last_used_at__isnull=False)
        devices = devices.filter(webmail_last_seen_at__isnull=True).exclude(Exists(used))
    return devices.annotate(mail_seen=Max("app_passwords__last_used_at")).order_by("user__email", "name")


def counts(now: dt.datetime | None = None) -> dict[str, int]:
    return {kind: filtered(kind, now=now).count() for kind in FILTERS}


def app_password_device(user: User, name: str) -> Device:
    """The device of an app password made without one (the API before devices): a new device named after it,
    its kind and platform guessed from the name as migration 0009 did for the app passwords made before."""
    lowered = name.lower()
    kind = Device.Kind.LAPTOP
    if any(word in lowered for word in ("ipad", "tablet")):
        kind = Device.Kind.TABLET
    elif any(word in lowered for word in ("phone", "iphone", "android", "pixel", "mobile")):
        kind = Device.Kind.PHONE
    platform = Device.Platform.OTHER
    for value, words in (
        (Device.Platform.APPLE, ("iphone", "ipad", "mac", "apple")),
        (Device.Platform.ANDROID, ("android", "pixel", "galaxy", "samsung")),
        (Device.Platform.WINDOWS, ("windows", "outlook", "surface")),
    ):
        if any(word in lowered for word in words):
            platform = value
            break
    return Device.objects.create(user=user, name=name.strip()[:64], kind=kind, platform=platform, created_by=user)
