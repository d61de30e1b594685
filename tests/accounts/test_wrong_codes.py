"""A correct password followed by wrong codes: the person is told, then IT staff (the stolen-password signal)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.models import OutboxMessage
from tests.conftest import PASSWORD, totp_code

NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def wrong_codes(client, user, device, count: int, ip="198.51.100.44") -> None:
    """Someone with the password: the password step, then a wrong code, again and again."""
    at = NOW
    for n in range(count):
        with time_machine.travel(at, tick=False):
            client.post(reverse("login"), {"username": user.email, "password": PASSWORD}, REMOTE_ADDR=ip)
            wrong = f"{(int(totp_code(device)) + 7) % 1_000_000:06d}"
            response = client.post(reverse("otp_verify"), {"code": wrong}, REMOTE_ADDR=ip)
            assert "That code is not valid" in response.content.decode()
        at += timedelta(seconds=2**n + 1)  # past django-otp's growing wait, so every code is really checked


def test_a_few_wrong_codes_tell_the_person_once(client, employee, it_staff):
    device = TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)
    wrong_codes(client, employee, device, 5)
    (notice,) = OutboxMessage.objects.filter(kind="accounts-wrong-codes")
    assert notice.to == [employee.email]
    assert "someone signed in" in notice.body_text and "with your correct password, from the address 198.51.100.44" in (
        notice.body_text
    )
    assert "/accounts/password/" in notice.body_text
    assert not OutboxMessage.objects.filter(kind="accounts-wrong-codes-alert").exists()


def test_many_wrong_codes_alert_it_staff(client, employee, it_staff):
    device = TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)
    wrong_codes(client, employee, device, 10)
    alert = OutboxMessage.objects.get(kind="accounts-wrong-codes-alert", channel=None)
    assert alert.to == [it_staff.email] and employee.email in alert.subject
    assert OutboxMessage.objects.filter(kind="accounts-wrong-codes").count() == 1
