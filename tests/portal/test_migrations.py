"""Upgrading an install with queued account emails: the unsent ones move into the outbox, none is lost."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone


@pytest.mark.django_db(transaction=True)
def test_unsent_account_emails_move_into_the_outbox():
    before = [("accounts", "0004_gateway"), ("portal", "0002_outbox")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    AccountEmail = apps.get_model("accounts", "AccountEmail")
    now = timezone.now()
    for key, status in (("invitation:abc", "queued"), ("otp-reuse:1:2:3", "sending"), ("old", "sent")):
        AccountEmail.objects.create(
            key=key, kind=key.split(":")[0], to=["a@example.com"], subject=key, body_text="Hi", status=status,
            attempts=2, created_at=now,
        )  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from portal.models import OutboxMessage

    rows = {row.key: row for row in OutboxMessage.objects.all()}
    assert sorted(rows) == ["accounts.invitation:abc|email", "accounts.otp-reuse:1:2:3|email"]
    invitation = rows["accounts.invitation:abc|email"]
    assert invitation.kind == "accounts-invitation" and invitation.sensitive and invitation.status == "pending"
    assert invitation.to == ["a@example.com"] and invitation.body_text == "Hi" and invitation.attempts == 2
    assert not rows["accounts.otp-reuse:1:2:3|email"].sensitive
