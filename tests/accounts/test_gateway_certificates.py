"""The company-certificate rule at /gateway/auth and on the portal's own pages, with the headers nginx sets;
"last seen via webmail"; the device-hygiene link (overdue, suspension, answered)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.devices import gate, issuing
from accounts.models import AuditEvent, Device, DeviceSettings

URL = "/gateway/auth"


@pytest.fixture(autouse=True)
def _ca_dir(settings, tmp_path):
    settings.DEVICE_CA_DIR = tmp_path / "device-ca"


def rule(**roles: str) -> None:
    DeviceSettings.objects.update_or_create(pk=1, defaults={f"certificate_{r}": v for r, v in roles.items()})


def certificate_for(user, name="ThinkPad", **options):
    device = Device.objects.create(user=user, name=name)
    certificate = issuing.issue(device, by=user, **options).certificate
    issuing.take_pkcs12(certificate)
    return certificate


def through_nginx(certificate=None, verify: str | None = None) -> dict:
    """What nginx's generated block sets on the check (from 127.0.0.1, a trusted proxy)."""
    if certificate is None and verify is None:
        return {"HTTP_X_SSL_CLIENT_VERIFY": "NONE"}
    return {
        "HTTP_X_SSL_CLIENT_VERIFY": verify or "SUCCESS",
        "HTTP_X_SSL_CLIENT_SERIAL": certificate.serial_display if certificate else "0A1B",
    }


def refusals() -> list[tuple[str, str]]:
    events = AuditEvent.objects.filter(action__endswith="refused").order_by("pk")
    return [(e.details["reason"], e.details["serial"]) for e in events]


def test_without_the_rule_no_certificate_is_needed(client, login, employee):
    login(client, employee)
    assert client.get(URL, **through_nginx()).status_code == 200


def test_with_the_rule_only_the_persons_valid_certificate_opens_webmail(client, login, employee, executive):
    rule(employee="webmail")
    mine, theirs = certificate_for(employee), certificate_for(executive, "iPad")
    login(client, employee)
    assert client.get(URL, **through_nginx()).status_code == 401
    assert client.get(URL, **through_nginx(theirs)).status_code == 401
    assert client.get(URL, **through_nginx(verify="FAILED:unable to verify the first certificate")).status_code == 401
    assert client.get(URL, **through_nginx(mine)).status_code == 200
    # Headers from anyone but nginx (a trusted proxy) count for nothing.
    assert client.get(URL, REMOTE_ADDR="203.0.113.7", **through_nginx(mine)).status_code == 401
    assert refusals() == [
        ("no certificate", ""),
        ("not a company certificate of this person", theirs.serial.upper()),
        ("not a company certificate of this person", "A1B"),
        ("no certificate", ""),
    ]
    event = AuditEvent.objects.filter(action="device_certificate.refused").order_by("pk").first()
    assert event.target == employee.email and event.ip_address == "127.0.0.1"


def test_a_revoked_certificate_is_refused_at_once_before_nginx_reloads_its_crl(client, login, employee):
    rule(employee="webmail")
    certificate = certificate_for(employee)
    login(client, employee)
    assert client.get(URL, **through_nginx(certificate)).status_code == 200
    issuing.revoke(certificate, reason="owner", by=employee)
    assert client.get(URL, **through_nginx(certificate)).status_code == 401  # nginx still says SUCCESS
    assert refusals() == [("revoked", certificate.serial.upper())]


def test_an_expired_certificate_is_refused(client, login, employee):
    rule(employee="webmail")
    old = certificate_for(employee, now=timezone.now() - dt.timedelta(days=400), lifetime=dt.timedelta(days=30))
    login(client, employee)
    assert client.get(URL, **through_nginx(old)).status_code == 401
    assert client.get(URL, **through_nginx(old, "FAILED:certificate has expired")).status_code == 401
    assert {reason for reason, _ in refusals()} == {"expired"}


def test_a_valid_certificate_without_an_otp_session_is_still_refused(client, employee):
    rule(employee="webmail")
    assert client.get(URL, **through_nginx(certificate_for(employee))).status_code == 401
    assert refusals() == []  # no session: the sign-in, not the certificate, is what is missing


def test_the_webmail_sign_in_page_says_what_is_missing_in_plain_words(client, login, employee):
    rule(employee="webmail")
    login(client, employee)
    client.get(URL, **through_nginx())
    page = client.get(reverse("gateway_signin"), {"next": "/"}).content.decode()
    assert gate.NO_CERTIFICATE_MESSAGE in page and "Try again" in page
    retried = client.post(reverse("gateway_signin") + "?next=/", {"action": "retry"})
    assert retried.status_code == 302
    assert gate.NO_CERTIFICATE_MESSAGE not in client.get(reverse("gateway_signin")).content.decode()


def test_a_pass_with_a_certificate_marks_its_device_seen_via_webmail(client, login, employee):
    certificate = certificate_for(employee)
    login(client, employee)
    client.get(URL, **through_nginx(certificate))
    device = certificate.device
    device.refresh_from_db()
    assert device.webmail_last_seen_at and device.webmail_last_seen_ip == "127.0.0.1"


def test_the_portal_rule_stops_the_sign_in_and_every_page_without_the_certificate(client, login, employee):
    from tests.conftest import PASSWORD

    rule(employee="portal")
    certificate = certificate_for(employee)
    page = client.post(reverse("login"), {"username": employee.email, "password": PASSWORD}).content.decode()
    assert gate.NO_CERTIFICATE_MESSAGE in page
    login(client, employee)
    refused = client.get(reverse("devices"))
    assert refused.status_code == 403 and gate.NO_CERTIFICATE_MESSAGE in refused.content.decode()
    assert client.get(reverse("devices"), **through_nginx(certificate)).status_code == 200
    assert {where for where in AuditEvent.objects.values_list("details__where", flat=True) if where} == {"portal"}


def test_it_staff_cannot_lock_themselves_out_from_a_browser_without_their_certificate(client, login, it_staff):
    login(client, it_staff)
    data = {
        "certificate_employee": "none", "certificate_executive": "none", "certificate_it_staff": "portal",
        "certificate_lifetime_days": 365, "hygiene_grace_days": 14,
    }  # fmt: skip
    assert "would lock you out" in client.post(reverse("device_settings"), data).content.decode()
    certificate = certificate_for(it_staff)
    assert client.post(reverse("device_settings"), data, **through_nginx(certificate)).status_code == 302
    assert DeviceSettings.load().certificate_it_staff == "portal"


# --- Device hygiene ------------------------------------------------------------------------------------


@pytest.fixture
def hygiene_campaign(it_staff):
    from policies.models import Campaign, CampaignRun, Delivery, Policy

    policy = Policy.objects.create(title="Devices", summary="s", body="b", category=Policy.Category.DEVICES)
    campaign = Campaign.objects.create(
        name="Monthly device check", kind="attestation", subject="Check", message="m", policy=policy,
        starts_at=timezone.now() - dt.timedelta(days=30),
    )  # fmt: skip
    campaign.statements.create(text="My devices are patched.")

    def send(to, days_ago: int):
        occurrence = timezone.now() - dt.timedelta(days=days_ago)
        run = CampaignRun.objects.create(campaign=campaign, occurrence=occurrence)
        Delivery.objects.create(campaign=campaign, run=run, recipient=to, occurrence=occurrence)
        return campaign

    return send


def test_an_unanswered_device_check_past_the_grace_marks_the_device_and_may_suspend_it(
    client, login, employee, hygiene_campaign
):
    from accounts.devices import hygiene

    DeviceSettings.objects.update_or_create(pk=1, defaults={"hygiene_grace_days": 7, "suspend_when_overdue": True})
    rule(employee="webmail")
    certificate = certificate_for(employee)
    Device.objects.filter(pk=certificate.device_id).update(created_at=timezone.now() - dt.timedelta(days=60))
    campaign = hygiene_campaign(employee, days_ago=10)
    hygiene.refresh()
    device = Device.objects.get(pk=certificate.device_id)
    certificate.refresh_from_db()
    assert device.hygiene_overdue_since and certificate.state == "suspended"
    login(client, employee)
    assert client.get(URL, **through_nginx(certificate)).status_code == 401
    assert client.get(reverse("devices"), **through_nginx(certificate)).status_code == 200  # to answer the check

    # Answering it (on the policies page) reinstates the certificate at once.
    statement = campaign.statements.get()
    client.post(reverse("policies:attest", kwargs={"pk": campaign.pk}), {f"statement_{statement.pk}": "yes"})
    device.refresh_from_db()
    certificate.refresh_from_db()
    assert device.hygiene_overdue_since is None and certificate.state == "active"
    assert device.last_attested_at and device.last_attestation == "Monthly device check: all yes"
    assert client.get(URL, **through_nginx(certificate)).status_code == 200
