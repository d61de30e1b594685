"""TOTP as the portal uses it: RFC 6238 test vectors, one step of drift, each code once, replay detection."""

from __future__ import annotations

from binascii import hexlify

import pytest
import time_machine
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.signin import _replayed_step
from tests.conftest import totp_code

RFC_SECRET = hexlify(b"12345678901234567890").decode()  # RFC 6238 appendix B, SHA-1


@pytest.mark.parametrize(
    ("at", "code"),
    [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"),
     (2000000000, "69279037")],
)  # fmt: skip
def test_it_matches_the_rfc_6238_vectors(employee, at, code):
    device = TOTPDevice.objects.create(user=employee, key=RFC_SECRET, digits=8, confirmed=True)
    assert totp_code(device, at=at) == code
    with time_machine.travel(at, tick=False):
        assert device.verify_token(code)


def test_it_accepts_one_step_either_side_and_nothing_further(employee):
    now = 1_700_000_000
    results = []
    for offset in range(-3, 4):
        device = TOTPDevice.objects.create(user=employee, name=f"d{offset}", confirmed=True)
        code = totp_code(device, at=now + offset * 30)
        with time_machine.travel(now, tick=False):
            results.append(device.verify_token(code))
    assert results == [False, False, True, True, True, False, False]


def test_a_code_is_accepted_once_and_its_replay_is_recognised(employee):
    device = TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)
    now = 1_700_000_000
    code = totp_code(device, at=now)
    with time_machine.travel(now, tick=False):
        assert _replayed_step(device, int(code)) is None
        assert device.verify_token(code)
        device.throttle_reset()
        assert not device.verify_token(code)
        assert _replayed_step(device, int(code)) == now // 30
    # Once the code is too old to be valid anyway, a retry is just a wrong code, not a replay.
    with time_machine.travel(now + 120, tick=False):
        assert _replayed_step(device, int(code)) is None


def test_an_older_code_after_a_newer_one_counts_as_replay(employee):
    device = TOTPDevice.objects.create(user=employee, name="Phone", confirmed=True)
    now = 1_700_000_010
    with time_machine.travel(now, tick=False):
        assert device.verify_token(totp_code(device, at=now))
        previous = totp_code(device, at=now - 30)
        device.throttle_reset()
        assert not device.verify_token(previous)
        assert _replayed_step(device, int(previous)) == now // 30 - 1
