"""IT staff always need the OTP step, whatever "OTP required" says for everyone else."""

from __future__ import annotations

from django.urls import reverse

from accounts import coverage
from accounts.models import OrganisationSettings, User
from accounts.roles import Role
from tests.conftest import PASSWORD


def test_it_staff_without_a_token_are_sent_to_enrolment_even_when_otp_is_off(postgres, client, it_staff, employee):
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"otp_required": False})
    response = client.post(reverse("login"), {"username": it_staff.email, "password": PASSWORD})
    assert response.status_code == 302
    users = client.get(reverse("users"))
    assert users.status_code == 302 and users["Location"].startswith(reverse("otp_enrol"))
    assert client.get(reverse("admin:index")).status_code == 302
    # Everyone else goes about their business without a token.
    other = client.__class__()
    other.post(reverse("login"), {"username": employee.email, "password": PASSWORD})
    assert other.get(reverse("home")).status_code == 200


def test_it_staff_with_a_token_must_enter_a_code_even_when_otp_is_off(client, it_staff):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    OrganisationSettings.objects.update_or_create(pk=1, defaults={"otp_required": False})
    TOTPDevice.objects.create(user=it_staff, name="Phone", confirmed=True)
    client.force_login(it_staff)
    response = client.get(reverse("users"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("otp_verify"))


def test_one_otp_status_rule_for_a_person_and_for_the_database(make_user):
    """``coverage.status`` and ``coverage.status_filter`` say the same for every role, setting and deadline."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    people = [
        make_user(f"{role}{n}@example.com", role=role, otp_grace_start=now - timedelta(days=days))
        for n, days in enumerate((1, 30))
        for role in Role
    ]
    for required in (True, False):
        org = OrganisationSettings.objects.update_or_create(pk=1, defaults={"otp_required": required})[0]
        for user in people:
            expected = coverage.status(enrolled=False, role=user.role, grace_start=user.otp_grace_start, org=org)
            matching = [s for s in coverage.STATUSES if User.objects.filter(coverage.status_filter(s, org), pk=user.pk)]
            assert matching == [expected], (user.email, required)
        if not required:
            it = [u for u in people if u.role == Role.IT_STAFF]
            assert {
                coverage.status_of(u, org) for u in coverage.users_with_enrolment().filter(pk__in=[u.pk for u in it])
            } == {
                "pending",
                "overdue",
            }
