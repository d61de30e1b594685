"""IT staff pages: users, CSV import, invitations, token resets, coverage, lockouts, sign-in settings, audit log."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import app_passwords, audit, backup_codes, enrolment, invitations, lockout, user_sections
from accounts.coverage import deadline, otp_coverage, status_filter, status_of, users_with_enrolment
from accounts.devices import inventory
from accounts.directory import annotated_users, csv_lines, filtered_users
from accounts.forms import (
    AuditFilterForm,
    OrganisationSettingsForm,
    RoleForm,
    TokenResetForm,
    UserCreateForm,
    UserFilterForm,
    UserImportForm,
)
from accounts.models import AppPassword, AuditEvent, Invitation, OrganisationSettings, User
from accounts.roles import Role, requires
from accounts.users_import import MAX_ERRORS_SHOWN, import_bytes

PAGE_SIZE = 50


def _get_user(pk: int) -> User:
    """The one way staff views load a person: 404 for unknown ids."""
    return get_object_or_404(User.objects.select_related("department"), pk=pk)


@requires("manage_users")
def users(request: HttpRequest) -> HttpResponse:
    org = OrganisationSettings.load()
    form = UserFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    page = Paginator(filtered_users(data, org), PAGE_SIZE).get_page(request.GET.get("page"))
    for user in page:
        user.otp_status = status_of(user, org)
    query = request.GET.copy()
    query.pop("page", None)
    ctx = {"form": form, "page": page, "query": query.urlencode(), "coverage": otp_coverage()}
    return render(request, "accounts/users.html", ctx)


@requires("manage_users")
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            audit.record("user.created", request=request, target=user.email, role=user.role)
            invitations.invite(user, actor=request.user, request=request)
        messages.success(request, f"{user.email} was created and invited.")
        return redirect("user_detail", pk=user.pk)
    return render(request, "accounts/user_create.html", {"form": form})


@requires("manage_users")
def users_import(request: HttpRequest) -> HttpResponse:
    form = UserImportForm(request.POST or None, request.FILES or None)
    errors: list[str] = []
    error_count = 0
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        result = import_bytes(
            upload.read(),
            actor=request.user,
            invite=form.cleaned_data["send_invitations"],
            request=request,
            source=upload.name,
        )
        if result.ok:
            messages.success(request, f"Imported {len(result.created)} users.")
            return redirect("users")
        error_count = len(result.errors)
        errors = result.errors[:MAX_ERRORS_SHOWN]
    return render(request, "accounts/users_import.html", {"form": form, "errors": errors, "error_count": error_count})


@requires("manage_users")
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = _get_user(pk)
    old_role = person.role
    form = RoleForm(request.POST or None, instance=person)
    if request.method == "POST":
        if person.pk == request.user.pk:
            messages.error(request, "Ask another IT staff member to change your own role or access.")
            return redirect("user_detail", pk=pk)
        if form.is_valid():
            person = form.save(commit=False)
            person.is_staff = person.role == Role.IT_STAFF
            person.save()
            if person.role != old_role:
                audit.record("user.role_changed", request=request, target=person.email, old=old_role, new=person.role)
            if "is_active" in form.changed_data:
                audit.record(
                    "user.activated" if person.is_active else "user.deactivated", request=request, target=person.email
                )
            messages.success(request, "Saved.")
            return redirect("user_detail", pk=pk)
    org = OrganisationSettings.load()
    ctx = {
        "person": person,
        "form": form,
        "reset_form": TokenResetForm(),
        "tokens": enrolment.confirmed_tokens(person),
        "webmail_sessions": person.webmail_sessions.select_related("user", "ended_by")[:10],
        "backup_remaining": backup_codes.remaining(person),
        "otp_status": enrolment.otp_status(person),
        "deadline": person.otp_grace_start + org.grace_period,
        "locked": lockout.account_state(person.email, org).locked,
        "invitations": person.invitations.all()[:5],
        "events": AuditEvent.objects.filter(target=person.email)[:20],
        "mail": app_passwords.mail_facts(person),
        "devices": inventory.rows_for(person),
        "sections": user_sections.sections_for(person),
    }
    return render(request, "accounts/user_detail.html", ctx)


@requires("manage_users")
def user_reset_tokens(request: HttpRequest, pk: int) -> HttpResponse:
    person = _get_user(pk)
    form = TokenResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        removed = enrolment.reset_tokens(
            person, actor=request.user, reason=form.cleaned_data["reason"], request=request
        )
        messages.success(request, f"Removed {removed} token(s) of {person.email}; they must enrol again.")
        return redirect("user_detail", pk=pk)
    return render(request, "accounts/user_reset_tokens.html", {"person": person, "form": form})


@requires("manage_users")
@require_POST
def user_invite(request: HttpRequest, pk: int) -> HttpResponse:
    person = _get_user(pk)
    if not person.is_active:
        messages.error(request, "Activate the account before inviting.")
    else:
        invitations.invite(person, actor=request.user, request=request)
        messages.success(request, f"Invitation sent to {person.email}.")
    return redirect("user_detail", pk=pk)


@requires("manage_users")
def invitation_list(request: HttpRequest) -> HttpResponse:
    rows = Invitation.objects.select_related("user", "created_by")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "accounts/invitations.html", {"page": page})


@requires("manage_users")
@require_POST
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=pk)
    if invitations.revoke(invitation, actor=request.user, request=request):
        messages.success(request, f"Invitation for {invitation.user.email} revoked.")
    else:
        messages.info(request, "That invitation was already used or revoked.")
    return redirect("invitations")


@requires("manage_users")
def coverage(request: HttpRequest) -> HttpResponse:
    org = OrganisationSettings.load()
    not_enrolled = list(
        users_with_enrolment()
        .filter(status_filter("pending", org) | status_filter("overdue", org) | status_filter("none", org))
        .select_related("department")
        .order_by("otp_grace_start", "email")[:500]
    )
    for user in not_enrolled:
        user.otp_status = status_of(user, org)
        user.deadline = deadline(user, org)
    mailbox_users = list(
        app_passwords.mailbox_password_users().annotate(
            app_password_count=Count("app_passwords", filter=Q(app_passwords__state=AppPassword.State.ACTIVE))
        )[:500]
    )
    ctx = {
        "coverage": otp_coverage(),
        "not_enrolled": not_enrolled,
        "org": org,
        "mailbox_users": mailbox_users,
        "mail_rule": app_passwords.mail_rule(),
    }
    return render(request, "accounts/coverage.html", ctx)


@requires("manage_users")
def coverage_csv(request: HttpRequest) -> StreamingHttpResponse:
    org = OrganisationSettings.load()
    users_qs = annotated_users(org).order_by("email")
    rows = (
        [
            u.email,
            u.get_full_name(),
            u.get_role_display(),
            u.department or "",
            status_of(u, org),
            "" if u.enrolled else deadline(u, org).isoformat(),
            u.last_login.isoformat() if u.last_login else "",
        ]
        for u in users_qs.iterator(chunk_size=1000)
    )
    header = ["email", "name", "role", "department", "otp_status", "deadline", "last_sign_in"]
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="otp-coverage-{timezone.localdate()}.csv"'
    return response


@requires("manage_users")
def lockouts(request: HttpRequest) -> HttpResponse:
    return render(
        request, "accounts/lockouts.html", {"locks": lockout.current_locks(), "org": OrganisationSettings.load()}
    )


@requires("manage_users")
@require_POST
def lockout_lift(request: HttpRequest) -> HttpResponse:
    kind, value = request.POST.get("kind", ""), request.POST.get("value", "").strip()
    if kind not in ("account", "network") or not value:
        messages.error(request, "Choose a lock to lift.")
    else:
        lockout.lift(kind, value, actor=request.user, request=request)
        messages.success(request, f"Lock on {value} lifted.")
    user_pk = request.POST.get("user", "")
    return redirect("user_detail", pk=int(user_pk)) if user_pk.isdigit() else redirect("lockouts")


@requires("manage_users")
def sign_in_settings(request: HttpRequest) -> HttpResponse:
    org = OrganisationSettings.load()
    form = OrganisationSettingsForm(request.POST or None, instance=org)
    if request.method == "POST" and form.is_valid():
        form.save()
        # Dates as text: the audit log's details are JSON.
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        changes = {name: value.isoformat() if hasattr(value, "isoformat") else value for name, value in changes.items()}
        audit.record("settings.sign_in_changed", request=request, target="organisation", **changes)
        messages.success(request, "Sign-in settings saved.")
        return redirect("sign_in_settings")
    ctx = {"form": form, "verifier": app_passwords.verifier_status()}
    return render(request, "accounts/settings.html", ctx)


def _audit_events(request: HttpRequest):
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.all()
    if form.is_valid():
        data = form.cleaned_data
        if data["action"]:
            events = events.filter(action__istartswith=data["action"].strip())
        if data["actor"]:
            events = events.filter(actor_email__icontains=data["actor"].strip())
        if data["target"]:
            events = events.filter(target__icontains=data["target"].strip())
        if data["since"]:
            events = events.filter(created_at__date__gte=data["since"])
        if data["until"]:
            events = events.filter(created_at__date__lte=data["until"])
    return form, events


@requires("view_audit_log")
def audit_log(request: HttpRequest) -> HttpResponse:
    form, events = _audit_events(request)
    page = Paginator(events, 100).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "accounts/audit_log.html", {"form": form, "page": page, "query": query.urlencode()})


@requires("view_audit_log")
def audit_log_csv(request: HttpRequest) -> StreamingHttpResponse:
    _, events = _audit_events(request)
    rows = (
        [
            e.created_at.isoformat(),
            e.actor_email,
            e.action,
            e.target,
            e.ip_address or "",
            e.user_agent,
            json.dumps(e.details),
            e.action_words,
        ]
        for e in events.iterator(chunk_size=2000)
    )
    header = ["time", "actor", "action", "target", "ip_address", "user_agent", "details", "what_happened"]
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{timezone.localdate()}.csv"'
    audit.record("audit.exported", request=request, target="audit log", filters=request.GET.urlencode()[:200])
    return response
