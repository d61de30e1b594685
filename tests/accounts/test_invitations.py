"""Invitations: single-use expiring links, stored hashed; tampered, expired, revoked and reused links fail."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts import invitations
from accounts.models import AuditEvent, Invitation
from portal.models import OutboxMessage

NEW_PASSWORD = "a long new password 2026"


@pytest.fixture
def invited(make_user, it_staff):
    user = make_user("nina@example.com", first_name="Nina", password=None)
    invitation, token = invitations.invite(user, actor=it_staff)
    return user, invitation, token


def accept(client, token, password=NEW_PASSWORD):
    return client.post(
        reverse("invitation_accept", kwargs={"token": token}),
        {"new_password1": password, "new_password2": password},
    )


def test_the_invitation_stores_only_a_hash_and_emails_the_link(invited):
    user, invitation, token = invited
    assert token not in invitation.token_hash and invitation.token_hash == Invitation.hash_token(token)
    email = OutboxMessage.objects.get(kind="accounts-invitation")
    assert email.to == [user.email]
    assert f"http://localhost:8000/accounts/invitation/{token}/" in email.body_text
    assert invitation.expires_at - invitation.created_at == timedelta(hours=72)
    assert AuditEvent.objects.filter(action="invitation.sent", target=user.email).exists()


def test_accepting_sets_the_password_signs_in_and_leads_to_enrolment(client, invited):
    user, invitation, token = invited
    page = client.get(reverse("invitation_accept", kwargs={"token": token}))
    assert page.status_code == 200 and "Welcome, Nina" in page.content.decode()
    response = accept(client, token)
    assert response["Location"] == reverse("otp_enrol")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert client.get(reverse("home"))["Location"].startswith(reverse("otp_enrol"))
    invitation.refresh_from_db()
    assert invitation.status == "accepted"


def test_the_link_works_once(client, invited):
    _, _, token = invited
    accept(client, token)
    client.post(reverse("logout"))
    assert client.get(reverse("invitation_accept", kwargs={"token": token})).status_code == 404
    assert accept(client, token, "another password 2026!").status_code == 404


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t[:20],
        lambda t: t + "x",
        lambda t: "x" * 200,
        lambda t: t.upper(),
    ],
)
def test_tampered_links_are_refused(client, invited, tamper):
    user, _, token = invited
    response = client.get(reverse("invitation_accept", kwargs={"token": tamper(token)}))
    assert response.status_code == 404
    assert accept(client, tamper(token)).status_code == 404
    user.refresh_from_db()
    assert not user.has_usable_password()


def test_an_expired_link_is_refused(client, invited):
    _, invitation, token = invited
    with time_machine.travel(invitation.expires_at + timedelta(seconds=1), tick=False):
        assert client.get(reverse("invitation_accept", kwargs={"token": token})).status_code == 404
    with time_machine.travel(invitation.expires_at - timedelta(minutes=1), tick=False):
        assert client.get(reverse("invitation_accept", kwargs={"token": token})).status_code == 200


def test_a_new_invitation_replaces_the_old_link(client, invited, it_staff):
    user, _, old_token = invited
    _, new_token = invitations.invite(user, actor=it_staff)
    assert client.get(reverse("invitation_accept", kwargs={"token": old_token})).status_code == 404
    assert client.get(reverse("invitation_accept", kwargs={"token": new_token})).status_code == 200
    assert AuditEvent.objects.filter(action="invitation.resent").exists()


def test_it_staff_revoke_and_resend(client, login, it_staff, invited):
    user, invitation, token = invited
    login(client, it_staff)
    assert user.email in client.get(reverse("invitations")).content.decode()
    client.post(reverse("invitation_revoke", kwargs={"pk": invitation.pk}))
    invitation.refresh_from_db()
    assert invitation.status == "revoked"
    assert client.get(reverse("invitation_accept", kwargs={"token": token})).status_code == 404
    client.post(reverse("user_invite", kwargs={"pk": user.pk}))
    assert Invitation.objects.filter(user=user).usable().count() == 1


def test_the_lifetime_comes_from_the_settings(invited, it_staff):
    from accounts.models import OrganisationSettings

    org = OrganisationSettings.load()
    org.invitation_lifetime_hours = 24
    org.save()
    user = invited[0]
    invitation, _ = invitations.invite(user, actor=it_staff)
    assert abs((invitation.expires_at - timezone.now()) - timedelta(hours=24)) < timedelta(seconds=5)
