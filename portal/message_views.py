"""IT staff pages of the outbox: every outgoing message with its status, and the alert channels."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.audit import record
from accounts.roles import requires
from portal import outbox
from portal.forms import AlertChannelForm, OutboxFilterForm
from portal.models import AlertChannel, OutboxMessage

TEST_KIND = "portal-channel-test"


@requires("manage_messages")
def message_list(request: HttpRequest) -> HttpResponse:
    form = OutboxFilterForm(request.GET or None)
    rows = form.filter(OutboxMessage.objects.defer("body_text", "body_html"))
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    by_status = dict(OutboxMessage.objects.values_list("status").annotate(n=Count("pk")).order_by())
    counts = {status: by_status.get(status, 0) for status in OutboxMessage.Status.values}
    ctx = {"form": form, "page": page, "query": query.urlencode(), "counts": counts}
    return render(request, "portal/outbox.html", ctx)


@require_POST
@requires("manage_messages")
def message_retry(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(OutboxMessage, pk=pk)
    # "Retry" on a failed row, "Send again" on one whose delivery is uncertain (it may have arrived).
    action = "outbox.sent_again" if message.status == OutboxMessage.Status.UNCERTAIN else "outbox.retried"
    with transaction.atomic():
        retried = outbox.retry(OutboxMessage.objects.filter(pk=message.pk))
        if retried:
            record(action, request=request, target=message.kind, message=message.pk)
    if retried:
        messages.success(request, f"“{message.subject}” to {message.destination} is queued again.")
    else:
        messages.info(request, "That message is neither failed nor uncertain (any more); nothing to send again.")
    return redirect("outbox:messages")


def _get_channel(pk: int) -> AlertChannel:
    return get_object_or_404(AlertChannel, pk=pk)


@requires("manage_messages")
def channel_list(request: HttpRequest) -> HttpResponse:
    channels = list(AlertChannel.objects.all())
    tests = {}
    for row in OutboxMessage.objects.filter(kind=TEST_KIND, channel__in=channels).order_by("-created_at", "-pk"):
        tests.setdefault(row.channel_id, row)
    for channel in channels:
        channel.last_test = tests.get(channel.pk)
    testing = any(t.status in (OutboxMessage.Status.PENDING, OutboxMessage.Status.SENDING) for t in tests.values())
    return render(request, "portal/channels.html", {"channels": channels, "testing": testing})


@requires("manage_messages")
def channel_add(request: HttpRequest) -> HttpResponse:
    form = AlertChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        channel = form.save()
        record("channel.added", request=request, target=channel.name, severities=channel.severities)
        messages.success(request, f"Channel “{channel.name}” saved. Send a test to check that it works.")
        return redirect("outbox:channels")
    return render(request, "portal/channel_form.html", {"form": form})


@requires("manage_messages")
def channel_edit(request: HttpRequest, pk: int) -> HttpResponse:
    channel = _get_channel(pk)
    old_name = channel.name
    form = AlertChannelForm(request.POST or None, instance=channel)
    if request.method == "POST" and form.is_valid():
        url_changed = form.url_changed
        channel = form.save()
        # Who changed which channel, and that its URL changed, never the URL itself.
        details = {"severities": channel.severities, "enabled": channel.enabled, "url_changed": url_changed}
        if old_name != channel.name:
            details["renamed_from"] = old_name
        record("channel.changed", request=request, target=channel.name, **details)
        messages.success(request, f"Channel “{channel.name}” saved.")
        return redirect("outbox:channels")
    return render(request, "portal/channel_form.html", {"form": form, "channel": channel})


@requires("manage_messages")
def channel_delete(request: HttpRequest, pk: int) -> HttpResponse:
    channel = _get_channel(pk)
    if request.method == "POST":
        name = channel.name
        channel.delete()
        record("channel.removed", request=request, target=name)
        messages.success(request, f"Channel “{name}” removed.")
        return redirect("outbox:channels")
    return render(request, "portal/channel_delete.html", {"channel": channel})


@require_POST
@requires("manage_messages")
def channel_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    channel = _get_channel(pk)
    channel.enabled = not channel.enabled
    channel.save(update_fields=["enabled", "updated_at"])
    record("channel.enabled" if channel.enabled else "channel.disabled", request=request, target=channel.name)
    messages.success(request, f"Channel “{channel.name}” {'enabled' if channel.enabled else 'disabled'}.")
    return redirect("outbox:channels")


@require_POST
@requires("manage_messages")
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    channel = _get_channel(pk)
    event = record("channel.tested", request=request, target=channel.name)
    rendered = outbox.render(TEST_KIND, {"channel": channel, "actor": request.user, "when": event.created_at})
    row = outbox.channel_row(channel, TEST_KIND, f"portal.channel-test:{event.pk}", rendered, "warning")
    outbox.queue([row])
    messages.success(request, f"A test is on its way to “{channel.name}”; its result shows below.")
    return redirect("outbox:channels")
