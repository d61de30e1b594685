"""IT staff pages: users list and filters, creating users, role changes, token resets, settings, audit log."""

from __future__ import annotations

import csv
import io

from django.urls import reverse

from accounts import audit
from accounts.models import AuditEvent, Invitation, OrganisationSettings, User
from accounts.roles import Role


def test_the_users_list_filters_by_role_status_and_search(client, login, it_staff, employee, executive):
    login(client, it_staff)
    emails = lambda **q: [u.email for u in client.get(reverse("users"), q).context["page"]]  # noqa: E731
    assert emails() == [employee.email, executive.email, it_staff.email]
    assert emails(role=Role.EXECUTIVE) == [executive.email]
    assert emails(otp="enrolled") == [it_staff.email]
    assert emails(otp="pending") == [employee.email, executive.email]
    assert emails(q="ERIN") == [employee.email]
    page = client.get(reverse("users")).content.decode()
    assert "status-enrolled" in page and "status-pending" in page


def test_creating_a_user_sends_an_invitation(client, login, it_staff):
    login(client, it_staff)
    response = client.post(
        reverse("user_create"),
        {"email": "New.Person@Example.com", "first_name": "New", "last_name": "Person", "role": "employee",
         "department_name": "Sales"},
    )  # fmt: skip
    user = User.objects.get(email="new.person@example.com")
    assert response["Location"] == reverse("user_detail", kwargs={"pk": user.pk})
    assert not user.has_usable_password() and user.department.name == "Sales"
    assert Invitation.objects.filter(user=user, created_by=it_staff).exists()
    duplicate = client.post(reverse("user_create"), {"email": "new.person@example.com", "role": "employee"})
    assert "already exists" in duplicate.content.decode()


def test_a_role_change_is_audited_and_sets_admin_access(client, login, it_staff, employee):
    login(client, it_staff)
    client.post(reverse("user_detail", kwargs={"pk": employee.pk}), {"role": Role.IT_STAFF, "is_active": "on"})
    employee.refresh_from_db()
    assert employee.role == Role.IT_STAFF and employee.is_staff
    event = AuditEvent.objects.get(action="user.role_changed")
    assert (event.actor, event.target, event.details) == (
        it_staff,
        employee.email,
        {"old": "employee", "new": "it_staff"},
    )


def test_it_staff_cannot_change_their_own_role(client, login, it_staff):
    login(client, it_staff)
    client.post(reverse("user_detail", kwargs={"pk": it_staff.pk}), {"role": Role.EMPLOYEE, "is_active": "on"})
    it_staff.refresh_from_db()
    assert it_staff.role == Role.IT_STAFF


def test_a_token_reset_needs_a_reason(client, login, it_staff, employee):
    login(client, employee)
    login(client, it_staff)
    url = reverse("user_reset_tokens", kwargs={"pk": employee.pk})
    assert "This field is required" in client.post(url, {"reason": "  "}).content.decode()
    assert "Say briefly why" in client.post(url, {"reason": "x"}).content.decode()
    assert employee.totpdevice_set.exists()
    client.post(url, {"reason": "Phone stolen on the train"})
    assert not employee.totpdevice_set.exists()
    assert AuditEvent.objects.get(action="otp.reset").details["reason"] == "Phone stolen on the train"


def test_unknown_users_are_404(client, login, it_staff):
    login(client, it_staff)
    assert client.get(reverse("user_detail", kwargs={"pk": 99999})).status_code == 404


def test_the_sign_in_settings_are_edited_and_audited(client, login, it_staff):
    login(client, it_staff)
    data = {"otp_required": "on", "grace_period_days": 3, "invitation_lifetime_hours": 48, "hard_lock_after": 6,
            "lockout_window_minutes": 10, "captcha_after_failures": 2, "network_captcha_after": 30,
            "code_failures_notify": 3, "code_failures_alert": 10, "reset_emails_per_hour": 3,
            "reset_requests_per_hour": 10, "mailbox_passwords": "until", "mailbox_passwords_until": "2099-06-30",
            "app_passwords_per_user": 4, "mail_refusal_alert_threshold": 30,
            "mail_refusal_alert_minutes": 5}  # fmt: skip
    client.post(reverse("sign_in_settings"), data)
    org = OrganisationSettings.load()
    assert (org.grace_period_days, org.hard_lock_after, org.captcha_after_failures) == (3, 6, 2)
    assert org.network_captcha_after == 30
    assert (org.mailbox_passwords, str(org.mailbox_passwords_until), org.app_passwords_per_user) == (
        "until", "2099-06-30", 4,
    )  # fmt: skip
    assert not org.revoke_app_passwords_on_token_reset  # an unticked box
    event = AuditEvent.objects.get(action="settings.sign_in_changed")
    assert event.details["grace_period_days"] == 3
    assert event.details["mailbox_passwords_until"] == "2099-06-30"
    bad = client.post(reverse("sign_in_settings"), {**data, "captcha_after_failures": 9})
    assert "CAPTCHA must come before the lock" in bad.content.decode()


def test_the_audit_log_filters_and_exports(client, login, it_staff, employee):
    audit.record("login.failure", target='=HYPERLINK("http://evil")')
    audit.record("otp.reuse", actor=employee, target=employee.email, token="Phone")
    login(client, it_staff)
    page = client.get(reverse("audit_log"), {"action": "otp"})
    assert [e.action for e in page.context["page"]] == ["otp.reuse"]
    response = client.get(reverse("audit_log_csv"), {"action": "login.failure"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["time", "actor", "action"]
    assert rows[1][3] == '\'=HYPERLINK("http://evil")'  # a spreadsheet will not run it
    assert rows[0][-1] == "what_happened" and rows[1][-1] == "Sign-in refused: wrong email or password"
    assert AuditEvent.objects.filter(action="audit.exported", actor=it_staff).exists()


def test_the_audit_log_cannot_be_changed_from_the_ui(client, login, it_staff):
    event = audit.record("login.failure", target="x@example.com")
    login(client, it_staff)
    assert client.post(reverse("audit_log"), {"action": "edited"}).status_code == 200
    admin_change = client.post(reverse("admin:accounts_auditevent_change", args=[event.pk]), {"action": "edited"})
    assert admin_change.status_code in (403, 200)
    admin_delete = client.post(reverse("admin:accounts_auditevent_delete", args=[event.pk]), {"post": "yes"})
    assert admin_delete.status_code == 403
    event.refresh_from_db()
    assert event.action == "login.failure"


def test_the_users_list_needs_the_same_queries_for_3_or_30_people(client, login, it_staff, make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    login(client, it_staff)
    for n in range(2):
        make_user(f"few{n}@example.com")
    client.get(reverse("users"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("users"))
    for n in range(27):
        make_user(f"many{n}@example.com", department=f"Dept {n}")
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("users"))
    assert len(few) == len(many)
