"""Publishing a task never fails a request: every publish goes through ``portal.outbox.publish``, which gives
up at once when the broker is down, and the work it stands for is a row the ticks take up again."""

from __future__ import annotations

import re
import time

import pytest
from django.urls import reverse

from accounts.models import PasswordResetRequest
from monitoring.serverload.models import DriftCheck
from tests.services import ROOT

APPS = ("accounts", "portal", "policies", "monitoring")
DIRECT_PUBLISH = re.compile(r"\.(delay|apply_async|send_task)\(")


def test_no_module_publishes_a_task_but_through_the_outbox():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and path != ROOT / "portal" / "outbox.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if DIRECT_PUBLISH.search(line)
    ]
    assert offenders == [], "publish tasks with portal.outbox.publish / publish_on_commit"


@pytest.mark.django_db
def test_a_password_reset_request_is_answered_while_the_broker_is_down(
    client, employee, dead_broker, django_capture_on_commit_callbacks
):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("password_reset"), {"email": employee.email})
    assert response.status_code == 302
    assert time.monotonic() - started < 5
    assert PasswordResetRequest.objects.count() == 1  # the accounts tick processes it


@pytest.mark.django_db
def test_a_drift_check_is_requested_while_the_broker_is_down(
    client, login, it_staff, dead_broker, django_capture_on_commit_callbacks
):
    login(client, it_staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("serverload:drift_check"))
    assert response.status_code == 302
    assert DriftCheck.objects.get().status == DriftCheck.Status.PENDING  # the load tick runs it
