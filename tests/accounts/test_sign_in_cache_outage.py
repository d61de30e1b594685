"""Sign-in security while Redis (the cache) is unreachable: the lockout counts in the database as always,
and the picture budget of a network is counted in each web process meanwhile (``portal.cache``)."""

from __future__ import annotations

import pytest
import time_machine
from django.urls import reverse

from accounts import captcha_pictures
from accounts.models import AccountLock
from tests.accounts.test_captcha_rows import XHR
from tests.accounts.test_lockout import NOW, attempt, fail_until_locked
from tests.conftest import PASSWORD
from tests.services import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def redis_unreachable(settings):
    settings.CACHES = {
        "default": {"BACKEND": "portal.cache.ResilientRedisCache", "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }


def test_the_lockout_still_locks_and_refuses_the_right_password(client, employee):
    locked_at = fail_until_locked(client, employee.email)
    assert AccountLock.objects.filter(email=employee.email).exists()
    with time_machine.travel(locked_at, tick=False):
        response = attempt(client, employee.email, password=PASSWORD)
    assert "This account is locked" in response.content.decode()
    assert locked_at > NOW


def test_the_picture_budget_still_holds(client, monkeypatch):
    monkeypatch.setattr(captcha_pictures, "PICTURES_PER_MINUTE", 12)
    answers = [
        client.get(reverse("captcha_refresh"), REMOTE_ADDR="198.51.100.7", **XHR)
        for _ in range(captcha_pictures.PICTURES_PER_MINUTE + 3)
    ]
    assert [a.status_code for a in answers].count(200) == captcha_pictures.PICTURES_PER_MINUTE
    assert answers[-1].status_code == 429
