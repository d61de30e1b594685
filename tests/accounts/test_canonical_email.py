"""One canonical form of an email address (issue 14, item 2): look-alike letters meet one lockout on PostgreSQL.

PostgreSQL's ``UPPER()`` (behind ``email__iexact``) folds the dotless i and the long s onto ASCII while
Python's ``lower()`` does not: a lockout keyed one way and a sign-in lookup made the other let look-alike
addresses past the lockout, and two accounts that ``iexact`` could not tell apart made every sign-in
for either a server error. These tests run on PostgreSQL (the ``postgres`` fixture).
"""

from __future__ import annotations

import pytest
import time_machine
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.addresses import canonical
from accounts.models import User
from accounts.users_import import import_bytes
from tests.accounts.test_lockout import NOW, attempt, fail_until_locked
from tests.conftest import PASSWORD

ADDRESS = "kirsten@example.com"
# Ten ways to write an address that is, or looks like, kirsten@example.com.
VARIANTS = [
    "KIRSTEN@EXAMPLE.COM",
    "\u212airsten@example.com",  # Kelvin sign K
    "kir\u017ften@example.com",  # long s
    "k\u0131rsten@example.com",  # dotless i
    "\uff4b\uff49\uff52\uff53\uff54\uff45\uff4e@example.com",  # full-width letters
    "kirsten@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",  # full-width domain and dot
    "K\u0130RSTEN@example.com",  # capital I with a dot
    "\U0001d424irsten@example.com",  # mathematical bold k
    "kir\ufb06en@example.com",  # the st ligature
    "  Kirsten@Example.COM  ",
]


def test_the_canonical_form():
    assert canonical("KIRSTEN@EXAMPLE.COM") == ADDRESS
    assert canonical("J\u00fcrgen@B\u00fccher.Example") == "j\u00fcrgen@xn--bcher-kva.example"
    assert canonical("STRA\u00dfE@example.com") == "strasse@example.com"
    same = [v for v in VARIANTS if canonical(v) == ADDRESS]
    # Compatibility forms and case fold onto the address; the dotless i and the dotted capital I are
    # other letters, so other addresses (which have no account).
    assert len(same) == 8
    assert all(canonical(canonical(v)) == canonical(v) for v in VARIANTS)


def test_look_alike_addresses_meet_one_lockout(postgres, client):
    kirsten = User.objects.create_user(ADDRESS, password=PASSWORD)
    TOTPDevice.objects.create(user=kirsten, name="Phone", confirmed=True)
    locked_at = fail_until_locked(client, ADDRESS)
    with time_machine.travel(locked_at, tick=False):
        for variant in VARIANTS:
            browser = Client()
            response = attempt(browser, variant, password=PASSWORD, ip="203.0.113.99")
            page = response.content.decode()
            assert response.status_code == 200, f"{variant!r} got past the lock to {response.get('Location')}"
            assert "otp_pending" not in browser.session, variant
            if canonical(variant) == ADDRESS:
                assert "This account is locked" in page, variant
            else:
                assert "Email address or password is not correct" in page, variant


def test_variants_sign_in_to_the_one_account_when_it_is_not_locked(postgres, client):
    User.objects.create_user(ADDRESS, password=PASSWORD)
    with time_machine.travel(NOW, tick=False):
        for variant in VARIANTS:
            browser = Client()
            response = attempt(browser, variant, password=PASSWORD)
            assert response.status_code == (302 if canonical(variant) == ADDRESS else 200), variant


def test_two_accounts_that_only_look_alike_both_sign_in(postgres, client, it_staff):
    """The CSV import that used to create b\u0131lly@ and BILLY@, after which each sign-in was a server error."""
    result = import_bytes(
        "email,first_name,last_name,department,role\n"
        "b\u0131lly@example.com,Billy,One,,employee\nBILLY@example.com,Billy,Two,,employee\n".encode(),
        actor=it_staff,
        invite=False,
    )
    assert result.ok, result.errors
    for user in User.objects.filter(first_name="Billy"):
        user.set_password(PASSWORD)
        user.save()
    with time_machine.travel(NOW, tick=False):
        assert attempt(Client(), "billy@example.com", password=PASSWORD).status_code == 302
        assert attempt(Client(), "b\u0131lly@example.com", password=PASSWORD).status_code == 302


def test_the_import_sees_duplicates_in_canonical_form(postgres, make_user, it_staff):
    make_user(ADDRESS)
    text = (
        "email,first_name,last_name,department,role\n"
        "ana@example.com,Ana,A,,employee\n\uff41\uff4e\uff41@example.com,Ana,B,,employee\n"
        "KIR\u017fTEN@example.com,Kirsten,C,,employee\n"
    )
    result = import_bytes(text.encode(), actor=it_staff, invite=False)
    assert not result.ok
    assert "Line 3: ana@example.com appears twice in the file (first on line 2)" in result.errors[0]
    assert f"Line 4: {ADDRESS} already has an account." in result.errors[1]


def test_the_database_refuses_a_second_account_with_the_same_canonical_address(postgres, employee):
    with pytest.raises(IntegrityError):
        User.objects.create_user("ERIN@EXAMPLE.COM".replace("I", "\uff29"), password=PASSWORD)


def test_new_users_and_password_resets_use_the_canonical_form(postgres, client, login, it_staff, employee):
    login(client, it_staff)
    response = client.post(reverse("user_create"), {"email": "\uff25rin@example.com", "role": "employee"})
    assert "already exists" in response.content.decode()
    from tests.accounts.test_password_reset import request_reset

    request_reset(Client(), "\uff25RIN@EXAMPLE.COM")
    from portal.models import OutboxMessage

    assert OutboxMessage.objects.get(kind="accounts-password-reset").to == [employee.email]


@pytest.mark.django_db(transaction=True)
def test_the_migration_lists_addresses_that_clash_and_changes_nothing(postgres):
    before = [("accounts", "0005_account_emails_to_outbox")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        historical = executor.loader.project_state(before).apps.get_model("accounts", "User")
        for email in ("billy@example.com", "\uff42illy@example.com", "kirsten@example.com", "kir\u017ften@example.com",
                      "ok@example.com"):  # fmt: skip
            historical.objects.create(email=email, password="!")
        executor = MigrationExecutor(connection)
        with pytest.raises(Exception, match="2 group") as failure:
            executor.migrate(executor.loader.graph.leaf_nodes())
        message = str(failure.value)
        assert "billy@example.com: 'billy@example.com' (user id" in message
        assert "'\uff42illy@example.com'" in message and "'kir\u017ften@example.com'" in message
        assert "ok@example.com" not in message and "run migrate again" in message
        # Fixed by hand, the migration goes through.
        historical.objects.filter(email__in=["\uff42illy@example.com", "kir\u017ften@example.com"]).delete()
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        assert sorted(User.objects.values_list("canonical_email", flat=True)) == [
            "billy@example.com",
            "kirsten@example.com",
            "ok@example.com",
        ]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
