"""Device certificates: issue one (PKCS#12 behind a one-time password), hand it over once, revoke, suspend.

The portal makes the key pair: the person gets one file (``.p12``, or inside the Apple ``.mobileconfig``)
that every platform imports, protected by a random one-time password shown once. The file waits in the
certificate's row, encrypted with that password, until its first download, which removes it: after that
only the public certificate is kept. A newer certificate of the same device replaces the older one when it
is downloaded (the older is revoked, "superseded"), so a device never loses webmail while it is set up.

PKCS#12 encryption: PBE-SHA1-3DES with a SHA-1 MAC (``LEGACY_PKCS12``), the one format that Windows 7/8
and Outlook's CryptoAPI, Android before 12 and iOS/macOS before 2023 all open; AES-256 files fail there
with "wrong password". The password carries about 100 random bits and the file lives until its one
download, which is what the weaker cipher has to withstand (docs/devices.md).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import audit
from accounts.devices import ca as device_ca
from accounts.models import Device, DeviceCertificate, DeviceSettings, User
from portal.outbox import absolute_url, publish_on_commit

# Unambiguous characters (no 0/o, 1/l/i): the password is typed on a phone while importing.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # noqa: S105 - an alphabet, not a password
PASSWORD_GROUPS, PASSWORD_GROUP_LENGTH = 5, 4  # 20 characters from 31: about 99 bits
PKCS12_KDF_ROUNDS = 50_000
REMINDER_DAYS = (30, 7)


class CannotIssue(Exception):
    """Why no certificate can be issued for this device now (shown to the person as it is)."""


@dataclass(frozen=True)
class Issued:
    certificate: DeviceCertificate
    password: str  # shown once, never stored


def one_time_password() -> str:
    groups = (
        "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_GROUP_LENGTH)) for _ in range(PASSWORD_GROUPS)
    )
    return "-".join(groups)


def legacy_pkcs12(password: str) -> serialization.KeySerializationEncryption:
    return (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())  # noqa: S303 - the MAC the old clients check (see the module docstring)
        .build(password.encode())
    )


def subject_for(device: Device) -> x509.Name:
    """The person and the device, as a browser shows it when asking which certificate to send."""
    person = device.user
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, settings.ORGANISATION_NAME[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{person.get_full_name()} ({device.name})"[:64]),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, person.email),
        ]
    )


def issue(device: Device, *, by: User | None, request=None, now: dt.datetime | None = None,
          lifetime: dt.timedelta | None = None) -> Issued:  # fmt: skip
    """A new certificate for ``device``: valid from ``now`` (tests issue in the past) for the lifetime setting."""
    if not device.is_active or not device.user.is_active:
        raise CannotIssue("Certificates are only issued for devices in use by active people.")
    now = now or timezone.now()
    lifetime = lifetime or dt.timedelta(days=DeviceSettings.load().certificate_lifetime_days)
    try:
        issuer_row = device_ca.active_ca()
    except device_ca.CAUnavailable as exc:
        raise CannotIssue(str(exc)) from None
    issuer, issuer_key = device_ca.certificate(issuer_row), device_ca.private_key(issuer_row)
    key = device_ca.generate_key()
    not_after = min(now + lifetime, issuer_row.not_after)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not isinstance(key, ec.EllipticCurvePrivateKey),  # RSA key exchange in old TLS
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject_for(device))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # a device clock a little behind still accepts it
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(device.user.email)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(absolute_url("device_ca_crl", pk=issuer_row.pk))],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )
    password = one_time_password()
    friendly_name = f"{settings.ORGANISATION_NAME} ({device.name})".encode()
    bundle = pkcs12.serialize_key_and_certificates(friendly_name, key, cert, None, legacy_pkcs12(password))
    with transaction.atomic():
        # One waiting file per device: an earlier one nobody downloaded is worthless now.
        revoke_many(
            DeviceCertificate.objects.usable().filter(device=device, downloaded_at__isnull=True),
            reason=DeviceCertificate.RevokeReason.NOT_DOWNLOADED,
            by=by,
        )
        row = DeviceCertificate.objects.create(
            device=device,
            ca=issuer_row,
            serial=format(cert.serial_number, "x"),
            subject=cert.subject.rfc4514_string()[:300],
            key_type=device_ca.key_type_of(key),
            fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            pkcs12=bundle,
            issued_at=now,
            issued_by=by,
        )
        audit.record(
            "device_certificate.issued",
            actor=by,
            target=device.user.email,
            request=request,
            device=device.pk,
            device_name=device.name,
            serial=row.serial_display,
            not_after=row.not_after.isoformat(),
            ca=issuer_row.name,
        )
        _forget(device.user_id)
    return Issued(row, password)


def take_pkcs12(certificate: DeviceCertificate, *, request=None, via: str = "p12") -> bytes | None:
    """The PKCS#12 file, once: the row forgets it in the same transaction. None when it was taken already.

    Taking it also revokes the device's older certificates (superseded): the new one is now on its way."""
    with transaction.atomic():
        row = DeviceCertificate.objects.select_for_update().filter(pk=certificate.pk).first()
        if row is None or row.pkcs12 is None or row.state == DeviceCertificate.State.REVOKED:
            return None
        data = bytes(row.pkcs12)
        DeviceCertificate.objects.filter(pk=row.pk).update(pkcs12=None, downloaded_at=timezone.now())
        older = DeviceCertificate.objects.usable().filter(device_id=row.device_id).exclude(pk=row.pk)
        superseded = revoke_many(older, reason=DeviceCertificate.RevokeReason.SUPERSEDED, by=None)
        audit.record(
            "device_certificate.downloaded",
            request=request,
            target=certificate.device.user.email,
            device=row.device_id,
            serial=row.serial_display,
            via=via,
            superseded=superseded,
        )
    return data


def revoke_many(certificates: QuerySet, *, reason: str, by: User | None) -> int:
    """Revoke these certificates (those not revoked yet), ask for new CRLs; the number revoked. Not audited:
    the caller records what happened (a device revoked, a deactivation) in its own words."""
    rows = list(
        certificates.exclude(state=DeviceCertificate.State.REVOKED).values_list("pk", "ca_id", "device__user_id")
    )
    if not rows:
        return 0
    revoked = (
        DeviceCertificate.objects.filter(pk__in=[pk for pk, _, _ in rows])
        .exclude(state=DeviceCertificate.State.REVOKED)
        .update(
            state=DeviceCertificate.State.REVOKED,
            revoked_at=timezone.now(),
            revoked_by=by,
            revoked_reason=reason,
            pkcs12=None,
        )
    )
    device_ca.ask_for_crl({ca_id for _, ca_id, _ in rows})
    for user_id in {user_id for _, _, user_id in rows}:
        _forget(user_id)
    from accounts import tasks

    # Within seconds rather than at the next tick (which signs it anyway if the broker is down).
    publish_on_commit(tasks.refresh_device_crls)
    return revoked


def revoke(certificate: DeviceCertificate, *, reason: str, by: User | None, request=None) -> bool:
    with transaction.atomic():
        if not revoke_many(DeviceCertificate.objects.filter(pk=certificate.pk), reason=reason, by=by):
            return False
        audit.record(
            "device_certificate.revoked",
            actor=by,
            request=request,
            target=certificate.device.user.email,
            device=certificate.device_id,
            serial=certificate.serial_display,
            reason=reason,
        )
    return True


def suspend(certificate: DeviceCertificate, *, reason: str) -> bool:
    """Active -> suspended (webmail refuses it; the portal still opens); False otherwise."""
    done = DeviceCertificate.objects.filter(pk=certificate.pk, state=DeviceCertificate.State.ACTIVE).update(
        state=DeviceCertificate.State.SUSPENDED, suspended_at=timezone.now(), suspended_reason=reason[:200]
    )
    if done:
        _forget(certificate.device.user_id)
        audit.record(
            "device_certificate.suspended",
            target=certificate.device.user.email,
            device=certificate.device_id,
            serial=certificate.serial_display,
            reason=reason[:200],
        )
    return bool(done)


def reinstate(certificate: DeviceCertificate) -> bool:
    done = DeviceCertificate.objects.filter(pk=certificate.pk, state=DeviceCertificate.State.SUSPENDED).update(
        state=DeviceCertificate.State.ACTIVE, suspended_at=None, suspended_reason=""
    )
    if done:
        _forget(certificate.device.user_id)
        audit.record(
            "device_certificate.reinstated",
            target=certificate.device.user.email,
            device=certificate.device_id,
            serial=certificate.serial_display,
        )
    return bool(done)


def current_certificate(device: Device) -> DeviceCertificate | None:
    """The device's newest certificate that is not revoked (downloaded or waiting)."""
    return device.certificates.usable().order_by("-issued_at", "-id").first()


def _forget(user_id: int) -> None:
    """The gateway caches each person's certificates with their facts: drop them now and after the commit."""
    from accounts import gateway

    gateway.forget_user(user_id)
    transaction.on_commit(lambda: gateway.forget_user(user_id))


# --- Renewal reminders ------------------------------------------------------------------------------------------


def remind_expiring(now: dt.datetime | None = None) -> int:
    """Tell owners 30 and 7 days before a certificate in use ends (once per certificate and step)."""
    from accounts import emails

    now = now or timezone.now()
    horizon = now + dt.timedelta(days=max(REMINDER_DAYS))
    expiring = (
        DeviceCertificate.objects.filter(
            state=DeviceCertificate.State.ACTIVE,
            downloaded_at__isnull=False,
            not_after__gt=now,
            not_after__lte=horizon,
            device__state=Device.State.ACTIVE,
            device__user__is_active=True,
        )
        .select_related("device__user")
        .order_by("not_after")
    )
    sent = 0
    for certificate in expiring:
        days_left = (certificate.not_after - now).days
        step = min(days for days in REMINDER_DAYS if days_left < days)
        newer = certificate.device.certificates.usable().filter(issued_at__gt=certificate.issued_at).exists()
        if newer:
            continue  # renewed already
        emails.send_certificate_expiring(certificate, days_left=days_left, step=step)
        sent += 1
    return sent
