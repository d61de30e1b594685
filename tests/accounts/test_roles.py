from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from accounts.roles import CAPABILITIES, Role, capabilities_for, requires, role_can

pytestmark = pytest.mark.django_db


def test_it_lets_it_staff_do_everything():
    assert all(role_can(Role.IT_STAFF, capability) for capability in CAPABILITIES)


def test_executives_read_but_do_not_manage():
    assert role_can(Role.EXECUTIVE, "view_summary")
    assert not role_can(Role.EXECUTIVE, "manage_users")
    assert not role_can(Role.EXECUTIVE, "manage_policies")


def test_employees_only_use_the_portal():
    allowed = {name for name in CAPABILITIES if role_can(Role.EMPLOYEE, name)}
    assert allowed == {"use_portal", "manage_own_tokens", "manage_own_devices", "read_policies"}


def test_an_unknown_capability_is_a_programming_error():
    with pytest.raises(KeyError):
        requires("fly")


def test_inactive_users_can_do_nothing(employee):
    employee.is_active = False
    assert not any(capabilities_for(employee).values())


def test_the_decorator_redirects_anonymous_and_forbids_others(employee):
    @requires("manage_users")
    def view(request):
        return HttpResponse("ok")

    request = RequestFactory().get("/x")
    request.user = AnonymousUser()
    assert view(request).status_code == 302
    request.user = employee
    with pytest.raises(PermissionDenied):
        view(request)
