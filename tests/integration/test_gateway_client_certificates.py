"""Company certificates at a real nginx (Debian's) with TLS and ``ssl_verify_client optional``, configured by
``gateway_nginx_config --client-certificates``, and Python's ``ssl`` presenting certificates the portal issued.

valid -> webmail; none, expired, revoked (after the CRL is written) and another CA's -> the portal's check
answers 401 and nginx sends the browser to the sign-in; a valid certificate without an OTP session still
goes to the sign-in. Rotation: certificates of the old and the new CA both open webmail until the old CA
is retired.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ssl
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from accounts.devices import ca, issuing
from accounts.models import AuditEvent, Device, DeviceSettings
from tests.integration.test_gateway_nginx import Webmail, otp_session
from tests.nginx import NginxServer, require_nginx
from tests.services import free_port

pytestmark = pytest.mark.integration


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def self_signed_ca(common_name: str):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = timezone.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def signed_by(issuer_key, issuer: x509.Certificate, common_name: str, usage, san: str | None = None):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = timezone.now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return key, builder.sign(issuer_key, hashes.SHA256())


def write_pair(folder: Path, name: str, key, cert) -> tuple[str, str]:
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(cert_path), str(key_path)


def from_pkcs12(folder: Path, name: str, issued: issuing.Issued) -> tuple[str, str]:
    """What a device does with the file: open it with the one-time password."""
    data = issuing.take_pkcs12(issued.certificate)
    key, cert, _ = pkcs12.load_key_and_certificates(data, issued.password.encode())
    return write_pair(folder, name, key, cert)


class Gate:
    """nginx with TLS in front of the test webmail, asking the live portal; restartable (a reload)."""

    def __init__(self, live_server, webmail, tmp_path: Path, settings) -> None:
        require_nginx()
        self.folder = tmp_path
        self.port = free_port()
        self.base = f"https://localhost:{self.port}"
        settings.GATEWAY_ALLOWED_HOSTS = [f"localhost:{self.port}"]
        server_ca_key, self.server_ca = self_signed_ca("Test server CA")
        self.server_ca_file = write_pair(tmp_path, "server-ca", server_ca_key, self.server_ca)[0]
        server_key, server = signed_by(
            server_ca_key, self.server_ca, "localhost", ExtendedKeyUsageOID.SERVER_AUTH, san="localhost"
        )
        certificate, certificate_key = write_pair(tmp_path, "server", server_key, server)
        out = StringIO()
        call_command(
            "gateway_nginx_config", "--portal", live_server.url, "--upstream", webmail.url,
            "--server-name", "localhost", "--portal-backend", f"http://127.0.0.1:{urlsplit(live_server.url).port}",
            "--listen", f"127.0.0.1:{self.port} ssl", "--ssl-certificate", certificate,
            "--ssl-certificate-key", certificate_key, "--client-certificates", stdout=out,
        )  # fmt: skip
        self.config = out.getvalue()
        self.nginx: NginxServer | None = None

    def start(self) -> Gate:
        self.stop()
        self.nginx = NginxServer(self.config, self.folder / "nginx", self.port).start()
        return self

    def stop(self) -> None:
        if self.nginx:
            self.nginx.stop()

    def get(self, cookie: str | None = None, client: tuple[str, str] | None = None) -> http.client.HTTPResponse:
        context = ssl.create_default_context(cafile=self.server_ca_file)
        if client:
            context.load_cert_chain(*client)
        conn = http.client.HTTPSConnection("localhost", self.port, context=context, timeout=10)
        conn.request("GET", "/?_task=mail", headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        response.read()
        conn.close()
        return response


@pytest.fixture
def gate_with_certificates(live_server, tmp_path, settings):
    settings.DEVICE_CA_DIR = tmp_path / "device-ca"
    with Webmail() as webmail:
        gate = Gate(live_server, webmail, tmp_path, settings)
        gate.webmail = webmail
        yield gate
        gate.stop()


def refused_reasons() -> list[str]:
    return list(
        AuditEvent.objects.filter(action="device_certificate.refused").values_list("details__reason", flat=True)
    )


def to_signin(response) -> bool:
    return response.status == 302 and "/gateway/signin?next=" in response.getheader("Location", "")


def test_only_a_valid_company_certificate_opens_webmail(gate_with_certificates, employee, executive, settings):
    gate, folder = gate_with_certificates, gate_with_certificates.folder
    DeviceSettings.objects.update_or_create(pk=1, defaults={"certificate_employee": "webmail"})
    laptop = Device.objects.create(user=employee, name="ThinkPad")
    valid = from_pkcs12(folder, "valid", issuing.issue(laptop, by=employee))
    old = Device.objects.create(user=employee, name="Old laptop")
    past = timezone.now() - dt.timedelta(days=400)
    expired = from_pkcs12(folder, "expired", issuing.issue(old, by=employee, now=past, lifetime=dt.timedelta(days=30)))
    phone = Device.objects.create(user=employee, name="Lost phone")
    revoked_issue = issuing.issue(phone, by=employee)
    revoked = from_pkcs12(folder, "revoked", revoked_issue)
    foreign_key, foreign_ca = self_signed_ca("Example Ltd devices CA")  # same name, another key
    foreign = write_pair(
        folder, "foreign", *signed_by(foreign_key, foreign_ca, "Erin", ExtendedKeyUsageOID.CLIENT_AUTH)
    )
    ca.refresh_crls()
    gate.start()
    cookie = otp_session(employee, settings)

    response = gate.get(cookie, valid)
    assert response.status == 200 and gate.webmail.pages()[-1]["x-portal-user"] == "erin@example.com"
    assert Device.objects.get(pk=laptop.pk).webmail_last_seen_at is not None

    # Revoked: the portal refuses at once, before nginx has the new CRL ...
    assert gate.get(cookie, revoked).status == 200
    issuing.revoke(revoked_issue.certificate, reason="owner", by=employee)
    assert to_signin(gate.get(cookie, revoked))
    # ... and once the CRL is written and nginx reloaded, nginx refuses it too (and the portal still decides).
    ca.refresh_crls()
    gate.start()
    cache.clear()  # past the audit's few minutes of silence for the same refusal
    assert to_signin(gate.get(cookie, revoked))
    assert "certificate revoked" in gate.nginx.log()

    seen = len(gate.webmail.pages())
    assert to_signin(gate.get(cookie))  # no certificate
    assert to_signin(gate.get(cookie, expired))
    assert to_signin(gate.get(cookie, foreign))
    assert len(gate.webmail.pages()) == seen
    nginx_said = list(
        AuditEvent.objects.filter(action="device_certificate.refused").values_list("details__nginx", flat=True)
    )
    assert "FAILED:certificate revoked" in nginx_said and "FAILED:certificate has expired" in nginx_said
    assert set(refused_reasons()) == {
        "revoked",
        "no certificate",
        "expired",
        "not a company certificate of this person",
    }

    # A valid certificate is no sign-in: without an OTP session the browser still goes to the sign-in.
    assert to_signin(gate.get(None, valid))
    # A role that needs no certificate gets in with a broken one too: the portal decides, not nginx's error page.
    assert gate.get(otp_session(executive, settings), expired).status == 200


def test_during_a_rotation_both_cas_are_trusted_until_the_old_one_is_retired(
    gate_with_certificates, employee, settings
):
    gate, folder = gate_with_certificates, gate_with_certificates.folder
    DeviceSettings.objects.update_or_create(pk=1, defaults={"certificate_employee": "webmail"})
    laptop = Device.objects.create(user=employee, name="ThinkPad")
    phone = Device.objects.create(user=employee, name="Pixel")
    old = from_pkcs12(folder, "old", issuing.issue(laptop, by=employee))
    old_ca = ca.active_ca()
    ca.rotate()
    new = from_pkcs12(folder, "new", issuing.issue(phone, by=employee))
    ca.refresh_crls()
    gate.start()
    cookie = otp_session(employee, settings)
    assert gate.get(cookie, old).status == 200
    assert gate.get(cookie, new).status == 200

    old_ca.refresh_from_db()
    ca.retire(old_ca)
    ca.refresh_crls()
    gate.start()
    assert to_signin(gate.get(cookie, old))
    assert gate.get(cookie, new).status == 200
