"""The *Sending* pages: the dashboard, top senders before a time, settings, a person's sending, shared mailboxes."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from accounts import audit
from accounts.models import User
from accounts.roles import Role, requires
from monitoring.sending import report, suspensions
from monitoring.sending.forms import (
    AliasForm,
    LimitOverrideForm,
    ReasonForm,
    SendingSettingsForm,
    SharedMailboxForm,
)
from monitoring.sending.models import LIMIT_FIELDS, LimitOverride, SenderAlias, SendingSettings, SharedMailbox

MAX_HOURS_BEFORE = 48


@requires("view_monitoring")
def dashboard(request: HttpRequest) -> HttpResponse:
    ctx = report.dashboard()
    ctx["can_manage"] = request.user.can("manage_users")
    return render(request, "sending/dashboard.html", ctx)


def _until(value: str) -> datetime | None:
    parsed = parse_datetime(value.strip().replace(" ", "+")) if value else None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


@requires("view_monitoring")
def top_senders(request: HttpRequest) -> HttpResponse:
    """Who sent most in the hours before a moment: the block-list page links here from a new listing."""
    until = _until(request.GET.get("until", ""))
    error = "" if until or not request.GET.get("until") else "That time could not be read; showing the last hours."
    until = until or timezone.now()
    try:
        hours = min(max(int(request.GET.get("hours", "3")), 1), MAX_HOURS_BEFORE)
    except ValueError:
        hours = 3
    since = report.hour_start(until) - timedelta(hours=hours)
    ctx = {
        "until": until,
        "since": since,
        "hours": hours,
        "error": error,
        "senders": report.senders_since(since, until, limit=25),
        "choices": (1, 3, 6, 12, 24, 48),
    }
    return render(request, "sending/top_senders.html", ctx)


def _changes(form, names) -> dict:
    return {name: [form.initial.get(name), form.cleaned_data.get(name)] for name in names if name in form.changed_data}


@requires("manage_monitoring")
def sending_settings(request: HttpRequest) -> HttpResponse:
    org = SendingSettings.load()
    form = SendingSettingsForm(request.POST or None, instance=org, prefix="org")
    roles = []
    for value, label in Role.choices:
        override = LimitOverride.objects.filter(role=value).first() or LimitOverride(role=value)
        roles.append(
            (label, LimitOverrideForm(request.POST or None, instance=override, prefix=f"role-{value}", row_label=label))
        )
    if request.method == "POST" and form.is_valid() and all(f.is_valid() for _, f in roles):
        with transaction.atomic():
            if form.has_changed():
                settings_row = form.save(commit=False)
                settings_row.updated_at = timezone.now()
                settings_row.save()
                audit.record("sending.settings_changed", request=request, target="sending settings",
                             changes=_changes(form, form.fields))  # fmt: skip
            for label, role_form in roles:
                if not role_form.has_changed():
                    continue
                override = role_form.save(commit=False)
                if override.is_empty and not override.note:
                    if override.pk:
                        override.delete()
                else:
                    override.updated_at = timezone.now()
                    override.save()
                audit.record("sending.limits_changed", request=request, target=f"role {label}",
                             changes=_changes(role_form, LIMIT_FIELDS))  # fmt: skip
        messages.success(request, "Saved. The policy service uses the new limits within a second.")
        return redirect("sending:settings")
    return render(request, "sending/settings.html", {"form": form, "roles": roles})


def _person(pk: int) -> User:
    return get_object_or_404(User, pk=pk)


@requires("manage_users")
def person(request: HttpRequest, pk: int) -> HttpResponse:
    """A person's sending: limits (their own override), aliases, shared mailboxes, totals, suspensions."""
    user = _person(pk)
    override = LimitOverride.objects.filter(user=user).first() or LimitOverride(user=user)
    posted = request.POST if request.method == "POST" else None
    limits_form = LimitOverrideForm(posted if "limits" in request.POST else None, instance=override, prefix="limits")
    alias_form = AliasForm(posted if "alias" in request.POST else None, prefix="alias")
    if "limits" in request.POST and limits_form.is_valid():
        with transaction.atomic():
            override = limits_form.save(commit=False)
            if override.is_empty and not override.note:
                if override.pk:
                    override.delete()
            else:
                override.updated_at = timezone.now()
                override.save()
            audit.record("sending.limits_changed", request=request, target=user.email,
                         changes=_changes(limits_form, LIMIT_FIELDS))  # fmt: skip
        messages.success(request, f"Limits of {user.email} saved.")
        return redirect("sending:person", pk=pk)
    if "alias" in request.POST and alias_form.is_valid():
        with transaction.atomic():
            alias = alias_form.save(commit=False)
            alias.user = user
            alias.save()
            audit.record("sending.alias_added", request=request, target=user.email, alias=alias.address)
        messages.success(request, f"{user.email} may now send as {alias.address}.")
        return redirect("sending:person", pk=pk)
    ctx = report.person(user)
    ctx.update(limits_form=limits_form, alias_form=alias_form, reason_form=ReasonForm())
    return render(request, "sending/person.html", ctx)


@requires("manage_users")
@require_POST
def alias_delete(request: HttpRequest, pk: int, alias_pk: int) -> HttpResponse:
    alias = get_object_or_404(SenderAlias.objects.select_related("user"), pk=alias_pk, user_id=pk)
    with transaction.atomic():
        alias.delete()
        audit.record("sending.alias_removed", request=request, target=alias.user.email, alias=alias.address)
    messages.success(request, f"{alias.user.email} may no longer send as {alias.address}.")
    return redirect("sending:person", pk=pk)


@requires("manage_users")
@require_POST
def suspend(request: HttpRequest, pk: int) -> HttpResponse:
    """Suspend a person's sending by hand (IT staff who know the account is compromised)."""
    user = _person(pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why sending is suspended.")
    elif suspensions.suspend(user, reason=form.cleaned_data["reason"], by=request.user, request=request):
        messages.success(request, f"Sending of {user.email} is suspended; they and IT staff have been told.")
    else:
        messages.info(request, f"Sending of {user.email} was already suspended.")
    return redirect("sending:person", pk=pk)


@requires("manage_users")
@require_POST
def lift(request: HttpRequest, pk: int) -> HttpResponse:
    """Let a suspended person send again, with the reason it is safe (the checklist done)."""
    user = _person(pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why sending is safe again (e.g. “password changed, laptop scanned”).")
    elif suspensions.lift(user, by=request.user, reason=form.cleaned_data["reason"], request=request):
        messages.success(request, f"{user.email} may send mail again.")
    else:
        messages.info(request, f"Sending of {user.email} was not suspended.")
    # The banner on the user page posts here too and goes back there.
    return redirect("user_detail" if request.POST.get("back") == "user" else "sending:person", pk=pk)


@requires("manage_users")
def shared_mailboxes(request: HttpRequest) -> HttpResponse:
    form = SharedMailboxForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            mailbox = form.save()
            audit.record("sending.shared_mailbox_added", request=request, target=mailbox.address,
                         members=[m.email for m in mailbox.members.all()])  # fmt: skip
        messages.success(request, f"Shared mailbox {mailbox.address} added.")
        return redirect("sending:shared_mailboxes")
    rows = SharedMailbox.objects.prefetch_related("members")
    return render(request, "sending/shared_mailboxes.html", {"form": form, "mailboxes": rows})


@requires("manage_users")
def shared_mailbox(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = get_object_or_404(SharedMailbox, pk=pk)
    before = sorted(m.email for m in mailbox.members.all())
    form = SharedMailboxForm(request.POST or None, instance=mailbox)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            mailbox = form.save()
            after = sorted(m.email for m in mailbox.members.all())
            audit.record("sending.shared_mailbox_changed", request=request, target=mailbox.address,
                         added=sorted(set(after) - set(before)), removed=sorted(set(before) - set(after)))  # fmt: skip
        messages.success(request, f"Shared mailbox {mailbox.address} saved.")
        return redirect("sending:shared_mailboxes")
    return render(request, "sending/shared_mailbox.html", {"form": form, "mailbox": mailbox})


@requires("manage_users")
@require_POST
def shared_mailbox_delete(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = get_object_or_404(SharedMailbox, pk=pk)
    with transaction.atomic():
        mailbox.delete()
        audit.record("sending.shared_mailbox_removed", request=request, target=mailbox.address)
    messages.success(request, f"Shared mailbox {mailbox.address} removed: nobody may send as it any more.")
    return redirect("sending:shared_mailboxes")
