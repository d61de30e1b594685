"""The password-change page counts and audits wrong current passwords like "confirm your password" (item 3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import time_machine
from django.urls import reverse

from accounts import lockout
from accounts.models import AuditEvent, SignInFailure
from tests.conftest import PASSWORD

NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
NEW_PASSWORD = "brand new password 2026"


def change(client, old_password):
    data = {"old_password": old_password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    return client.post(reverse("password_change"), data)


def test_wrong_current_passwords_are_counted_audited_and_slowed_down(postgres, client, login, employee):
    login(client, employee)
    with time_machine.travel(NOW, tick=False):
        answers = [change(client, f"guess number {n}") for n in range(12)]
        assert AuditEvent.objects.filter(action="password.change_failure", actor=employee).count() == 3
        assert SignInFailure.objects.filter(email=employee.email, step=SignInFailure.REAUTH).count() == 3
        # After three, each try waits; the page says how long and does not even look at the password.
        page = answers[-1].content.decode()
        assert "Too many failed tries for this account. Wait 1 second" in page
        assert change(client, PASSWORD).status_code == 200
    with time_machine.travel(NOW + timedelta(seconds=1), tick=False):
        assert lockout.account_state(employee.email).failures == 3
        assert change(client, PASSWORD).status_code == 302


def test_the_confirm_password_page_is_counted_the_same_way(client, login, employee):
    login(client, employee)
    with time_machine.travel(NOW, tick=False):
        for _ in range(5):
            response = client.post(reverse("reauth"), {"password": "not it at all"})
        assert AuditEvent.objects.filter(action="reauth.failure").count() == 3
        assert re.search(r"Wait \d+ seconds?", response.content.decode())
