"""What a mail program needs to know: server names and ports, Thunderbird autoconfig, Apple profiles.

Used by the "Set up mail on a device" page, the autoconfig URLs Thunderbird asks, and the
``.mobileconfig`` download for iPhone, iPad and macOS.
"""

from __future__ import annotations

import plistlib
import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from django.conf import settings

from accounts.mailauth.snapshot import mail_login

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class MailServer:
    host: str
    imap_port: int
    pop3_port: int
    submission_port: int
    submissions_port: int
    pop3: bool


def domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


def server_for(email: str) -> MailServer:
    """The mail server settings for someone with address ``email`` (MAIL_SERVER, else mail.<domain>)."""
    return MailServer(
        host=settings.MAIL_SERVER or f"mail.{domain_of(email)}",
        imap_port=settings.MAIL_IMAP_PORT,
        pop3_port=settings.MAIL_POP3_PORT,
        submission_port=settings.MAIL_SUBMISSION_PORT,
        submissions_port=settings.MAIL_SUBMISSIONS_PORT,
        pop3=settings.MAIL_POP3,
    )


def login_for(email: str) -> str:
    """The user name to type into a mail program (the email address, or its local part)."""
    return mail_login(email)


def serves_domain(domain: str) -> bool:
    """Whether ``domain`` is a mail domain of this organisation (someone active in the portal has it)."""
    from accounts.models import User

    return bool(_DOMAIN.match(domain)) and User.objects.filter(is_active=True, email__iendswith=f"@{domain}").exists()


# --- Thunderbird autoconfig (config-v1.1.xml) --------------------------------------------------------


def autoconfig_xml(domain: str) -> bytes:
    """Thunderbird's autoconfig file for ``domain``: IMAP (and POP3) over TLS, SMTP submission.

    Fields as Thunderbird reads them: ``clientConfig/emailProvider`` with ``domain``,
    ``displayName``, ``incomingServer``/``outgoingServer`` each with ``hostname``, ``port``,
    ``socketType`` (SSL or STARTTLS), ``authentication`` and ``username`` (a placeholder Thunderbird
    fills in).
    """
    server = server_for(f"x@{domain}")
    username = "%EMAILLOCALPART%" if settings.MAIL_USERNAME == "localpart" else "%EMAILADDRESS%"
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domain)
    ET.SubElement(provider, "domain").text = domain
    ET.SubElement(provider, "displayName").text = f"{settings.ORGANISATION_NAME} mail"
    ET.SubElement(provider, "displayShortName").text = settings.ORGANISATION_NAME

    def add(kind: str, tag: str, port: int, socket_type: str) -> None:
        element = ET.SubElement(provider, tag, type=kind)
        ET.SubElement(element, "hostname").text = server.host
        ET.SubElement(element, "port").text = str(port)
        ET.SubElement(element, "socketType").text = socket_type
        ET.SubElement(element, "authentication").text = "password-cleartext"
        ET.SubElement(element, "username").text = username

    add("imap", "incomingServer", server.imap_port, "SSL")
    if server.pop3:
        add("pop3", "incomingServer", server.pop3_port, "SSL")
    add("smtp", "outgoingServer", server.submission_port, "STARTTLS")
    add("smtp", "outgoingServer", server.submissions_port, "SSL")
    documentation = ET.SubElement(provider, "documentation", url=f"{settings.PORTAL_BASE_URL}/accounts/devices/")
    ET.SubElement(documentation, "descr", lang="en").text = "Make an app password for each device in the portal"
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


# --- Apple configuration profile (.mobileconfig) ------------------------------------------------


def _identifier() -> str:
    """Reverse-DNS prefix for payload identifiers, from the portal's host name."""
    host = urlsplit(settings.PORTAL_BASE_URL).hostname or "localhost"
    return ".".join(reversed(host.split("."))) + ".mailportal"


def mobileconfig(*, email: str, full_name: str, device_id: int, device_name: str, password_id: int | None = None,
                 can_send: bool = True, secret: str | None = None, pkcs12: bytes | None = None) -> bytes:  # fmt: skip
    """An unsigned profile for one device: its IMAP account (``password_id``; the app password only when
    ``secret`` is given) and its company certificate (``pkcs12``, which the device opens with the one-time
    password it asks for while installing: the profile never carries that password).

    Identifiers and UUIDs are derived from the device (and app password), so installing the profile again
    replaces the account and the certificate instead of adding second ones.
    """
    base = _identifier()
    namespace = uuid.uuid5(uuid.NAMESPACE_DNS, f"{base}.device.{device_id}")
    content = []
    if password_id is not None:
        content.append(_mail_account(email, full_name, device_name, password_id, can_send, secret, base, namespace))
    if pkcs12 is not None:
        content.append(
            {
                "PayloadType": "com.apple.security.pkcs12",
                "PayloadVersion": 1,
                "PayloadIdentifier": f"{base}.certificate.{device_id}",
                "PayloadUUID": str(uuid.uuid5(namespace, "certificate")).upper(),
                "PayloadDisplayName": f"{settings.ORGANISATION_NAME} certificate for {device_name}",
                "PayloadDescription": "Lets this device open the company's webmail.",
                "PayloadCertificateFileName": "company-certificate.p12",
                "PayloadContent": pkcs12,
            }
        )
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{base}.device.{device_id}",
        "PayloadUUID": str(uuid.uuid5(namespace, "profile")).upper(),
        "PayloadDisplayName": f"{settings.ORGANISATION_NAME} mail for {email}",
        "PayloadDescription": f"The company mail account and certificate of {email} on {device_name}.",
        "PayloadOrganization": settings.ORGANISATION_NAME,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": content,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)


def _mail_account(email: str, full_name: str, device_name: str, password_id: int, can_send: bool,
                  secret: str | None, base: str, namespace: uuid.UUID) -> dict:  # fmt: skip
    server = server_for(email)
    login = login_for(email)
    account = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{base}.account.{password_id}",
        "PayloadUUID": str(uuid.uuid5(namespace, f"account.{password_id}")).upper(),
        "PayloadDisplayName": f"{settings.ORGANISATION_NAME} mail",
        "EmailAccountDescription": f"{settings.ORGANISATION_NAME} ({device_name})",
        "EmailAccountName": full_name,
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": email,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerHostName": server.host,
        "IncomingMailServerPortNumber": server.imap_port,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": login,
        "OutgoingMailServerAuthentication": "EmailAuthPassword" if can_send else "EmailAuthNone",
        "OutgoingMailServerHostName": server.host,
        "OutgoingMailServerPortNumber": server.submission_port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": login,
        "OutgoingPasswordSameAsIncomingPassword": can_send,
        "PreventMove": False,
        "SMIMEEnabled": False,
    }
    if secret:
        account["IncomingPassword"] = secret
        if can_send:
            account["OutgoingPassword"] = secret
    return account
