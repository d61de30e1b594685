from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import User
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def test_it_creates_the_demo_organisation_once():
    out = StringIO()
    call_command("demo", password="demo password 123", stdout=out)
    call_command("demo", password="demo password 123", stdout=StringIO())
    assert User.objects.filter(role=Role.IT_STAFF).count() == 1
    assert User.objects.filter(role=Role.EXECUTIVE).count() == 1
    assert User.objects.filter(role=Role.EMPLOYEE).count() >= 4
    assert set(User.objects.values_list("department__name", flat=True)) == {"Sales", "Operations"}
    assert "it@example.com" in out.getvalue()
    assert "sign in" in out.getvalue()
