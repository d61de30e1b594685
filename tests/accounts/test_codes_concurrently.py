"""One code sent by several requests at the same moment (threads with their own connections) signs in once."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import signin
from tests.conftest import totp_code
from tests.policies.test_claims_concurrently import race


@pytest.mark.django_db(transaction=True)
def test_a_totp_code_sent_twice_at_once_is_accepted_once(employee):
    device = TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)
    code = totp_code(device)
    request = RequestFactory().post("/accounts/login/code/", REMOTE_ADDR="192.0.2.7")
    results = race(lambda: signin.check_code(request, employee, code).device is not None)
    assert sorted(results) == [False] * 7 + [True]
