"""The tick (usual hours, pruning) and the Postfix lines ``mail_policy_config`` prints."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from monitoring.sending import profiles
from monitoring.sending.models import PolicyRefusal, SenderProfile, SendingHour, SendingState
from monitoring.sending.report import hour_start


@pytest.mark.django_db
def test_the_usual_hour_is_a_busy_hour_of_the_last_four_weeks_once_there_are_five(employee, it_staff):
    SendingState.load()
    now = timezone.now()
    start = hour_start(now)
    for ago, recipients in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 100]):
        SendingHour.objects.create(hour=start - timedelta(hours=ago + 1), login=employee.email, user=employee,
                                   recipients=recipients, messages=1)  # fmt: skip
    for ago in range(3):
        SendingHour.objects.create(hour=start - timedelta(hours=ago + 1), login=it_staff.email, user=it_staff,
                                   recipients=50, messages=1)  # fmt: skip
    SendingHour.objects.create(hour=start - timedelta(days=40), login=employee.email, user=employee, recipients=999)
    version = SendingState.current_version()
    assert profiles.tick(now) == {"profiles": 2, "pruned": 0}
    assert SenderProfile.objects.get(user=employee).usual_hour == 9  # the 90th percentile: one mailing does not count
    assert SenderProfile.objects.get(user=it_staff).usual_hour is None  # three hours: not enough history
    assert SendingState.current_version() != version
    assert profiles.tick(now) == {}  # claimed: not again within the hour
    assert profiles.tick(now + timedelta(hours=1, minutes=1)) == {"profiles": 0}


@pytest.mark.django_db
def test_old_rows_are_pruned_daily():
    SendingState.load()  # due from its creation on
    now = timezone.now()
    SendingHour.objects.create(hour=now - timedelta(days=500), login="old")
    PolicyRefusal.objects.create(first_at=now - timedelta(days=200), last_at=now - timedelta(days=200), login="old",
                                 kind="hour")  # fmt: skip
    SendingHour.objects.create(hour=hour_start(now), login="new")
    assert profiles.tick(now)["pruned"] == 2
    assert list(SendingHour.objects.values_list("login", flat=True)) == ["new"]


def config(*args: str) -> str:
    out = StringIO()
    call_command("mail_policy_config", *args, stdout=out)
    return out.getvalue()


def test_the_postfix_lines_fail_open_by_default():
    text = config()
    assert (
        "portal_sending_guard = check_policy_service { inet:127.0.0.1:10040, default_action=DUNNO, timeout=5s }" in text
    )
    assert "policy_context=relay" in text and "reject_unauth_destination" in text
    assert "  -o smtpd_recipient_restrictions=$portal_sending_guard" in text
    assert "  -o smtpd_end_of_data_restrictions=$portal_sending_guard" in text
    assert "postconf -P 'submissions/inet/smtpd_end_of_data_restrictions=$portal_sending_guard'" in text


def test_failing_closed_defers_mail_but_relay_counting_never_does():
    text = config("--fail", "closed", "--listen", "/var/spool/postfix/private/portal-policy", "--timeout", "3")
    assert (
        "portal_sending_guard = check_policy_service { unix:/var/spool/postfix/private/portal-policy, "
        "default_action=DEFER, timeout=3s }"
    ) in text
    assert "default_action=DUNNO, timeout=3s, policy_context=relay" in text


def test_bad_options_are_refused():
    with pytest.raises(CommandError, match="listen"):
        config("--listen", "localhost:10040 }, permit")
    with pytest.raises(CommandError, match="timeout"):
        config("--timeout", "0")
