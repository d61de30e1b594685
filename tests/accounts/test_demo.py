from __future__ import annotations

from accounts import demo
from accounts.coverage import otp_coverage


def test_the_demo_people_start_unenrolled_with_two_overdue(db):
    demo.load_people("demo password 123")
    demo.load_people("demo password 123")
    coverage = otp_coverage()
    assert (coverage["total"], coverage["enrolled"], coverage["overdue"]) == (7, 0, 2)
    assert any("authenticator" in line for line in demo.load())
