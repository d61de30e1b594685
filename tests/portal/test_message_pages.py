"""The IT staff pages of the outbox: outgoing messages (filters, retry) and alert channels (forms, secrets)."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from portal.models import AlertChannel, OutboxMessage

pytestmark = pytest.mark.django_db
Status = OutboxMessage.Status
SECRET = "tk_9f8e7d6c5b4a"


@pytest.fixture
def staff_client(client, login, it_staff):
    login(client, it_staff)
    return client


def _row(key: str, **extra) -> OutboxMessage:
    defaults = {"kind": "accounts-overdue", "to": ["ivan@example.com"], "subject": f"Subject {key}"}
    return OutboxMessage.objects.create(key=key, **{**defaults, **extra})


def test_the_list_shows_every_row_with_its_status_and_filters(staff_client, http_receiver):
    channel = AlertChannel.objects.create(name="Phones", url="ntfy://ntfy.example.com/x", severities=["warning"])
    _row("a|email", status=Status.FAILED, attempts=7, last_error="451 4.3.0 Try again later")
    _row("b|channel", kind="accounts-lockout", to=[], channel=channel, channel_name="Phones")
    page = staff_client.get(reverse("outbox:messages")).content.decode()
    assert "451 4.3.0 Try again later" in page and "Channel “Phones”" in page
    assert 'class="status status-failed"' in page and 'class="status status-pending"' in page
    failed_only = staff_client.get(reverse("outbox:messages"), {"status": "failed"}).content.decode()
    assert "Subject a|email" in failed_only and "Subject b|channel" not in failed_only
    by_kind = staff_client.get(reverse("outbox:messages"), {"kind": "accounts-lockout"}).content.decode()
    assert "Subject b|channel" in by_kind and "Subject a|email" not in by_kind


def test_retry_queues_a_failed_row_again(staff_client, django_capture_on_commit_callbacks):
    row = _row("c|email", status=Status.FAILED, attempts=7, last_error="451")
    response = staff_client.post(reverse("outbox:message_retry", args=[row.pk]))
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == Status.PENDING and row.attempts == 0
    assert AuditEvent.objects.filter(action="outbox.retried").exists()
    assert staff_client.get(reverse("outbox:message_retry", args=[row.pk])).status_code == 405


def test_a_channel_is_added_and_its_url_never_shown_logged_or_audited(staff_client, http_receiver, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"json://{http_receiver.url}/hooks/{SECRET}"
    response = staff_client.post(
        reverse("outbox:channel_add"),
        {"name": "IT webhook", "url": url, "severities": ["critical"], "enabled": "on"},
    )
    assert response.status_code == 302
    channel = AlertChannel.objects.get()
    assert channel.url == url and channel.severities == ["critical"]
    listing = staff_client.get(reverse("outbox:channels")).content.decode()
    assert "IT webhook" in listing and f"json://127.0.0.1:{http_receiver.port}/…" in listing
    edit = staff_client.get(reverse("outbox:channel_edit", args=[channel.pk])).content.decode()
    # A test through the outbox, sent as the worker would, with the endpoint failing: Apprise names its URL.
    http_receiver.fail(500)
    staff_client.post(reverse("outbox:channel_test", args=[channel.pk]))
    from portal import outbox

    test_row = OutboxMessage.objects.get(kind="portal-channel-test")
    assert outbox.send_channel_message(test_row.pk) == Status.PENDING
    after_test = staff_client.get(reverse("outbox:channels")).content.decode()
    assert "Failed" in after_test and "500" in after_test
    messages_page = staff_client.get(reverse("outbox:messages")).content.decode()
    for text in (listing, edit, after_test, messages_page, caplog.text):
        assert SECRET not in text and url not in text
    audit = list(AuditEvent.objects.filter(action__startswith="channel.").values_list("action", "target", "details"))
    assert [a[:2] for a in audit] == [("channel.tested", "IT webhook"), ("channel.added", "IT webhook")]
    assert SECRET not in str(audit)


def test_a_bad_apprise_url_is_a_clear_form_error_and_loses_nothing(staff_client, caplog):
    caplog.set_level(logging.DEBUG)
    response = staff_client.post(
        reverse("outbox:channel_add"),
        {"name": "Chat", "url": "nosuchservice://abc/def", "severities": ["warning"], "enabled": "on"},
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Apprise cannot use this nosuchservice:// URL" in page
    assert 'value="Chat"' in page and not AlertChannel.objects.exists()
    assert "nosuchservice://abc/def" not in caplog.text  # Apprise logs the URL it cannot parse
    missing = staff_client.post(reverse("outbox:channel_add"), {"name": "Chat", "severities": ["warning"]})
    assert "Enter the channel&#x27;s Apprise URL." in missing.content.decode()
    plain = staff_client.post(reverse("outbox:channel_add"), {"name": "Chat", "url": "hello", "severities": ["x"]})
    assert "starts with its service" in plain.content.decode()


def test_editing_with_a_blank_url_keeps_it_and_the_audit_says_what_changed(staff_client):
    channel = AlertChannel.objects.create(name="Old", url=f"ntfy://ntfy.example.com/{SECRET}", severities=["warning"])
    response = staff_client.post(
        reverse("outbox:channel_edit", args=[channel.pk]),
        {"name": "New", "url": "", "severities": ["warning", "critical"], "enabled": "on"},
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.url.endswith(SECRET) and channel.name == "New" and channel.severities == ["warning", "critical"]
    event = AuditEvent.objects.get(action="channel.changed")
    assert event.target == "New" and event.details["renamed_from"] == "Old" and event.details["url_changed"] is False
    staff_client.post(
        reverse("outbox:channel_edit", args=[channel.pk]),
        {"name": "New", "url": "ntfy://ntfy.example.com/other-topic", "severities": ["warning"]},
    )
    channel.refresh_from_db()
    assert channel.url.endswith("other-topic") and channel.enabled is False
    assert AuditEvent.objects.filter(action="channel.changed").first().details["url_changed"] is True


def test_toggle_and_delete(staff_client):
    channel = AlertChannel.objects.create(name="Chat", url="ntfy://ntfy.example.com/t", severities=["warning"])
    staff_client.post(reverse("outbox:channel_toggle", args=[channel.pk]))
    channel.refresh_from_db()
    assert channel.enabled is False
    assert (
        "Delete the channel “Chat”?"
        in staff_client.get(reverse("outbox:channel_delete", args=[channel.pk])).content.decode()
    )
    staff_client.post(reverse("outbox:channel_delete", args=[channel.pk]))
    assert not AlertChannel.objects.exists()
    assert list(AuditEvent.objects.values_list("action", flat=True).order_by("pk")) == [
        "channel.disabled",
        "channel.removed",
    ]


def test_the_it_navigation_links_the_pages(staff_client, client):
    home = staff_client.get(reverse("home")).content.decode()
    assert f'href="{reverse("outbox:messages")}"' in home
    assert f'href="{reverse("outbox:channels")}"' in staff_client.get(reverse("outbox:messages")).content.decode()


def test_the_admin_lists_the_outbox_read_only_and_never_the_channels(staff_client):
    from django.contrib import admin

    row = _row("d|email")
    assert staff_client.get("/admin/portal/outboxmessage/").status_code == 200
    assert staff_client.get(f"/admin/portal/outboxmessage/{row.pk}/change/").status_code == 200
    assert AlertChannel not in admin.site._registry


def test_send_again_queues_an_uncertain_row_and_is_audited(staff_client):
    row = _row("u|email", status=Status.UNCERTAIN, attempts=1, last_error="The worker stopped after handing")
    page = staff_client.get(reverse("outbox:messages")).content.decode()
    assert 'class="status status-uncertain">Delivery uncertain<' in page and "Send again" in page
    page = staff_client.post(reverse("outbox:message_retry", args=[row.pk]), follow=True).content.decode()
    # The message is named as people know it (its subject), not by its kind's code
    assert "“Subject u|email” to ivan@example.com is queued again." in page and "accounts-overdue message" not in page
    row.refresh_from_db()
    assert row.status == Status.PENDING and row.last_error == ""
    assert AuditEvent.objects.filter(action="outbox.sent_again").exists()
