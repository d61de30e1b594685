"""Loading the verifier's snapshot from the database, and which people a change concerns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import app_passwords
from accounts.mailauth import snapshot as snapshots
from accounts.mailauth.decision import Verdict, decide
from accounts.mailauth.protocol import Verify
from accounts.models import AppPassword, MailAuthState, OrganisationSettings

pytestmark = pytest.mark.django_db


def test_it_loads_people_app_passwords_and_the_rules(make_user):
    erin = make_user("Erin@Example.com")
    secret = app_passwords.create(erin, name="Laptop", can_read=True, can_send=False).secret
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"mailbox_passwords": "refused"})
    loaded = snapshots.load()
    assert loaded.version == MailAuthState.current_version()
    assert loaded.policy.mailbox == "refused"
    assert loaded.user_for("erin@example.com").id == erin.pk
    (password,) = loaded.passwords_by_user[erin.pk]
    assert (password.can_read, password.can_send, password.first_used) == (True, False, False)
    answer = decide(Verify("1", "imap", "erin@example.com", "", secret), loaded, timezone.now())
    assert answer.verdict == Verdict.OK


def test_revoked_passwords_are_kept_for_90_days_to_say_revoked(make_user):
    erin = make_user("erin@example.com")
    old = app_passwords.create(erin, name="Old", can_read=True, can_send=True).password
    older = app_passwords.create(erin, name="Older", can_read=True, can_send=True).password
    for row in (old, older):
        row.revoke(reason=AppPassword.RevokeReason.OWNER)
    AppPassword.objects.filter(pk=older.pk).update(revoked_at=timezone.now() - timedelta(days=91))
    assert [p.id for p in snapshots.load().passwords_by_user[erin.pk]] == [old.pk]


def test_local_part_logins_when_the_mail_server_uses_them(make_user, settings):
    settings.MAIL_USERNAME = "localpart"
    erin = make_user("erin@example.com")
    make_user("sam@example.com")
    make_user("sam@other.example")
    loaded = snapshots.load()
    assert loaded.user_for("erin").id == erin.pk
    assert loaded.user_for("erin@example.com").login == "erin"
    assert loaded.user_for("sam") is None  # two people: only full addresses work
    assert loaded.user_for("sam@other.example") is not None


def test_every_change_the_verifier_serves_moves_the_version(make_user):
    versions = [MailAuthState.current_version()]

    def moved() -> bool:
        versions.append(MailAuthState.current_version())
        return versions[-1] != versions[-2]

    erin = make_user("erin@example.com")
    assert moved()
    created = app_passwords.create(erin, name="Laptop", can_read=True, can_send=True).password
    assert moved()
    created.suspend(reason="sending burst")
    assert moved()
    created.reinstate()
    assert moved()
    erin.last_name = "Example"
    erin.save(update_fields=["last_name"])  # not something the verifier serves
    assert not moved()
    erin.is_active = False
    erin.save()
    assert moved()
    OrganisationSettings.load().save()
    assert moved()


def test_changed_logins_names_only_the_people_whose_facts_changed(make_user):
    erin, sam = make_user("erin@example.com"), make_user("sam@example.com")
    before = snapshots.load()
    assert snapshots.changed_logins(None, before) is None  # first load: flush everything
    app_passwords.create(erin, name="Laptop", can_read=True, can_send=True)
    after = snapshots.load()
    assert snapshots.changed_logins(before, after) == {"erin@example.com"}
    sam.email = "samuel@example.com"
    sam.save()
    renamed = snapshots.load()
    assert snapshots.changed_logins(after, renamed) == {"sam@example.com", "samuel@example.com"}
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"mailbox_passwords": "refused"})
    refused = snapshots.load()
    assert snapshots.changed_logins(renamed, refused) is None  # the rule changed for everyone
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"mail_refusal_alert_threshold": 50})
    assert snapshots.changed_logins(refused, snapshots.load()) == set()  # nothing a cached login depends on
