"""The portal's small private CA for device certificates, its CRLs, and the two files nginx reads.

- **Created on first use** (the first certificate, or ``manage.py device_ca files``) with a clear name,
  "<ORGANISATION_NAME> devices CA", valid for ten years; RSA 2048 by default (``DEVICE_CA_KEY_TYPE``;
  docs/devices.md argues the choice).
- **Key at rest**: PKCS#8 encrypted with ``DEVICE_CA_KEY_PASSPHRASE`` (a setting of its own, never derived
  from ``SECRET_KEY``). ``check_passphrase`` runs when the web and worker processes start: a CA the
  passphrase cannot open stops them with a message naming the setting.
- **Rotation**: ``rotate`` makes a new active CA and leaves the old one *retiring*: nginx trusts both (both
  are in ``ca-bundle.pem``, both CRLs in ``crl.pem``) while devices get new certificates; ``retire`` ends
  the old one.
- **CRLs**: each revocation asks for a new CRL (``crl_wanted``); ``refresh_crls`` (a task published after
  the revocation, and the accounts tick every minute) signs it, and signs a fresh one daily, long before
  ``DEVICE_CRL_DAYS`` run out, then writes the files. nginx reads them when it (re)loads; the portal's own
  check at the gate never waits for that (``accounts.devices.gate``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import audit
from accounts.models import DeviceCA, DeviceCertificate

CA_YEARS = 10
BUNDLE_FILE = "ca-bundle.pem"
CRL_FILE = "crl.pem"
# A CRL is signed again once it is this old, so nginx's copy never nears its nextUpdate.
CRL_RESIGN_AFTER = dt.timedelta(days=1)
# RFC 5280 reason codes of the CRL entries (unspecified is left out, as the RFC asks).
CRL_REASONS = {
    DeviceCertificate.RevokeReason.OWNER: x509.ReasonFlags.cessation_of_operation,
    DeviceCertificate.RevokeReason.DEVICE_REVOKED: x509.ReasonFlags.cessation_of_operation,
    DeviceCertificate.RevokeReason.DEACTIVATED: x509.ReasonFlags.affiliation_changed,
    DeviceCertificate.RevokeReason.SUPERSEDED: x509.ReasonFlags.superseded,
    DeviceCertificate.RevokeReason.NOT_DOWNLOADED: x509.ReasonFlags.superseded,
    DeviceCertificate.RevokeReason.CA_RETIRED: x509.ReasonFlags.ca_compromise,
}


class CAUnavailable(Exception):
    """The CA cannot be used here: no passphrase is configured."""


# --- Keys ----------------------------------------------------------------------------------------------


def passphrase() -> bytes:
    value = settings.DEVICE_CA_KEY_PASSPHRASE
    if not value:
        raise CAUnavailable(
            "Device certificates need DEVICE_CA_KEY_PASSPHRASE (20+ random characters) in the portal's environment."
        )
    return value.encode("utf-8")


def generate_key(key_type: str | None = None):
    key_type = key_type or settings.DEVICE_CA_KEY_TYPE
    if key_type == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_type_of(key) -> str:
    return "p256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa2048"


def encrypt_key(key) -> str:
    """PKCS#8 PEM encrypted with the passphrase (cryptography's best available: AES-256-CBC, PBKDF2)."""
    encryption = serialization.BestAvailableEncryption(passphrase())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


# Parsed once per process, keyed by what identifies a CA everywhere (its fingerprint, never a row id, which a
# restored or test database may give to another CA).
_keys: dict[tuple[str, str], object] = {}
_certificates: dict[str, x509.Certificate] = {}


def private_key(ca: DeviceCA):
    """The CA's private key, decrypted once per process and passphrase; ValueError with a wrong passphrase."""
    secret = passphrase()
    cache_key = (ca.fingerprint_sha256, hashlib.sha256(secret).hexdigest())
    if cache_key not in _keys:
        _keys[cache_key] = serialization.load_pem_private_key(ca.encrypted_key_pem.encode(), password=secret)
    return _keys[cache_key]


def certificate(ca: DeviceCA) -> x509.Certificate:
    if ca.fingerprint_sha256 not in _certificates:
        _certificates[ca.fingerprint_sha256] = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
    return _certificates[ca.fingerprint_sha256]


def check_passphrase() -> None:
    """Stop the start when a trusted CA exists that the configured passphrase cannot open."""
    from django.db.utils import DatabaseError

    try:
        cas = list(DeviceCA.objects.trusted())
    except DatabaseError:
        return  # no table yet (before the first migrate): nothing to open
    for ca in cas:
        if not settings.DEVICE_CA_KEY_PASSPHRASE:
            raise ImproperlyConfigured(
                f"DEVICE_CA_KEY_PASSPHRASE is not set, but the portal has a devices CA (“{ca.name}”) whose "
                "private key it encrypts. Set it to the passphrase the CA was created with."
            )
        try:
            private_key(ca)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"DEVICE_CA_KEY_PASSPHRASE does not open the private key of “{ca.name}” (created "
                f"{ca.created_at:%Y-%m-%d}). Set the passphrase it was created with; a new passphrase needs "
                "a CA rotation with the old one still set (docs/devices.md)."
            ) from None


# --- The CA itself ----------------------------------------------------------------------------------------


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, settings.ORGANISATION_NAME[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )


def next_name() -> str:
    """ "Example Ltd devices CA" for the first, then "... devices CA 2", "3": distinct names keep nginx's
    (OpenSSL's) issuer and CRL look-up unambiguous while two CAs are trusted."""
    base = f"{settings.ORGANISATION_NAME} devices CA"
    number = DeviceCA.objects.count() + 1
    name = base if number == 1 else f"{base} {number}"
    while DeviceCA.objects.filter(name=name).exists():
        number += 1
        name = f"{base} {number}"
    return name


def create_ca(*, now: dt.datetime | None = None, key_type: str | None = None) -> DeviceCA:
    """A new CA row (not yet active: the caller decides its state inside its transaction)."""
    now = now or timezone.now()
    key = generate_key(key_type)
    name = next_name()
    subject = _name(name)
    not_after = now + dt.timedelta(days=365 * CA_YEARS + CA_YEARS // 4)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return DeviceCA(
        name=name,
        key_type=key_type_of(key),
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        encrypted_key_pem=encrypt_key(key),
        serial=format(cert.serial_number, "x"),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        created_at=now,
    )


def active_ca(*, create: bool = True) -> DeviceCA | None:
    """The CA that issues; made on first use (two first uses at once end with one CA)."""
    ca = DeviceCA.objects.filter(state=DeviceCA.State.ACTIVE).first()
    if ca is not None or not create:
        return ca
    passphrase()  # no CA without a passphrase to protect its key
    new = create_ca()
    try:
        with transaction.atomic():
            new.save()
    except IntegrityError:  # another request made it meanwhile (one_active_device_ca)
        return DeviceCA.objects.get(state=DeviceCA.State.ACTIVE)
    audit.record("device_ca.created", target=new.name, key_type=new.key_type, not_after=new.not_after.isoformat())
    transaction.on_commit(lambda: write_files_quietly())
    return new


def rotate(*, by=None, request=None, key_type: str | None = None) -> DeviceCA:
    """A new active CA; the current one keeps being trusted (retiring) until ``retire``."""
    with transaction.atomic():
        current = DeviceCA.objects.select_for_update().filter(state=DeviceCA.State.ACTIVE).first()
        if DeviceCA.objects.filter(state=DeviceCA.State.RETIRING).exists():
            raise ValueError("Retire the previous CA before rotating again: at most two CAs are trusted at once.")
        if current is not None:
            current.state, current.rotated_at = DeviceCA.State.RETIRING, timezone.now()
            current.save(update_fields=["state", "rotated_at"])
        new = create_ca(key_type=key_type)
        new.save()
        audit.record(
            "device_ca.rotated", actor=by, request=request, target=new.name, previous=current.name if current else ""
        )
        transaction.on_commit(lambda: refresh_crls())
    return new


def retire(ca: DeviceCA, *, by=None, request=None) -> int:
    """Stop trusting a retiring CA: its certificates still in use are revoked; the number revoked."""
    from accounts.devices import issuing

    with transaction.atomic():
        if not DeviceCA.objects.filter(pk=ca.pk, state=DeviceCA.State.RETIRING).update(
            state=DeviceCA.State.RETIRED, retired_at=timezone.now()
        ):
            return 0
        revoked = issuing.revoke_many(
            DeviceCertificate.objects.usable().filter(ca=ca), reason=DeviceCertificate.RevokeReason.CA_RETIRED, by=by
        )
        audit.record("device_ca.retired", actor=by, request=request, target=ca.name, revoked=revoked)
        transaction.on_commit(lambda: refresh_crls())
    return revoked


# --- CRLs and the files nginx reads ---------------------------------------------------------------------------


def ask_for_crl(ca_ids) -> None:
    """A certificate of these CAs was revoked: their CRLs must be signed again (call inside that transaction)."""
    DeviceCA.objects.filter(pk__in=list(ca_ids)).update(crl_wanted=True)


def sign_crl(ca: DeviceCA, *, now: dt.datetime | None = None) -> bytes:
    """Sign the CA's CRL now (revoked certificates that have not expired) and store it; the PEM."""
    now = now or timezone.now()
    with transaction.atomic():
        # The row lock orders this after a revocation that is committing (it set crl_wanted on this row).
        ca = DeviceCA.objects.select_for_update().get(pk=ca.pk)
        issuer = certificate(ca)
        key = private_key(ca)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.subject)
            .last_update(now)
            .next_update(now + dt.timedelta(days=settings.DEVICE_CRL_DAYS))
            .add_extension(x509.CRLNumber(ca.crl_number + 1), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        )
        revoked = DeviceCertificate.objects.filter(ca=ca, state=DeviceCertificate.State.REVOKED, not_after__gt=now)
        for serial, revoked_at, reason in revoked.values_list("serial", "revoked_at", "revoked_reason").iterator():
            entry = x509.RevokedCertificateBuilder().serial_number(int(serial, 16)).revocation_date(revoked_at or now)
            if reason in CRL_REASONS:
                entry = entry.add_extension(x509.CRLReason(CRL_REASONS[reason]), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        pem = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        DeviceCA.objects.filter(pk=ca.pk).update(
            crl_pem=pem.decode(),
            crl_number=ca.crl_number + 1,
            crl_this_update=now,
            crl_next_update=now + dt.timedelta(days=settings.DEVICE_CRL_DAYS),
            crl_wanted=False,
        )
    return pem


def crl_due(ca: DeviceCA, now: dt.datetime) -> bool:
    return ca.crl_wanted or not ca.crl_pem or ca.crl_this_update is None or now - ca.crl_this_update >= CRL_RESIGN_AFTER


def refresh_crls(*, now: dt.datetime | None = None) -> dict:
    """Sign the CRLs that are wanted or a day old, then write the files; what was done (the tick's report)."""
    now = now or timezone.now()
    signed = 0
    for ca in DeviceCA.objects.trusted():
        if crl_due(ca, now):
            sign_crl(ca, now=now)
            signed += 1
    return {"crls_signed": signed, "files_written": len(write_files())}


def ca_bundle_pem() -> str:
    return "".join(ca.certificate_pem for ca in DeviceCA.objects.trusted().order_by("created_at"))


def crl_bundle_pem() -> str:
    return "".join(ca.crl_pem for ca in DeviceCA.objects.trusted().order_by("created_at") if ca.crl_pem)


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    # A whole file or the old one, never half of one: nginx may read it at any moment.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(temporary, 0o644)  # CA certificates and CRLs are public; nginx's user reads them
    os.replace(temporary, path)
    return True


def write_files() -> list[Path]:
    """Write ``ca-bundle.pem`` and ``crl.pem`` into ``DEVICE_CA_DIR`` when they changed; the paths written."""
    bundle, crls = ca_bundle_pem(), crl_bundle_pem()
    if not bundle:
        return []
    folder = Path(settings.DEVICE_CA_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in ((BUNDLE_FILE, bundle), (CRL_FILE, crls)):
        if text and _write_if_changed(folder / name, text):
            written.append(folder / name)
    return written


def write_files_quietly() -> None:
    """After creating the CA in a request: sign its first CRL and write the files; the tick retries on failure."""
    with contextlib.suppress(OSError, CAUnavailable):
        refresh_crls()


def status(now: dt.datetime | None = None) -> dict:
    """What IT staff see about the CAs and the files, from stored rows and the files' own dates."""
    now = now or timezone.now()
    folder = Path(settings.DEVICE_CA_DIR)
    files = []
    for name in (BUNDLE_FILE, CRL_FILE):
        path = folder / name
        changed = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC) if path.exists() else None
        files.append({"path": path, "changed_at": changed})
    cas = list(DeviceCA.objects.all())
    for ca in cas:
        ca.usable_certificates = DeviceCertificate.objects.usable().filter(ca=ca, not_after__gt=now).count()
        ca.crl_overdue = ca.state != DeviceCA.State.RETIRED and (
            ca.crl_next_update is None or ca.crl_next_update <= now
        )
    return {"cas": cas, "files": files, "configured": bool(settings.DEVICE_CA_KEY_PASSPHRASE)}
