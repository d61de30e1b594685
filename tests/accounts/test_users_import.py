"""CSV import in the browser and with manage.py import_users: all rows or none, an error per bad row."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import AuditEvent, Department, Invitation, User
from accounts.users_import import import_bytes
from portal.models import OutboxMessage

HEADER = "email,first_name,last_name,department,role\n"


def csv_bytes(*rows: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return (header + "".join(f"{row}\n" for row in rows)).encode(encoding)


def test_a_good_file_creates_every_user_with_departments(db):
    data = csv_bytes(
        "ana@example.com,Ana,Silva,Sales,employee",
        "Ben@Example.com,Ben,Ode,Finance,Executive",
        "cy@example.com,Cy,Park,,IT staff",
    )
    result = import_bytes(data, actor=None, invite=False)
    assert result.ok and len(result.created) == 3
    assert set(User.objects.values_list("email", "role")) == {
        ("ana@example.com", "employee"),
        ("ben@example.com", "executive"),
        ("cy@example.com", "it_staff"),
    }
    assert User.objects.get(email="cy@example.com").is_staff
    assert not User.objects.get(email="ana@example.com").has_usable_password()
    assert set(Department.objects.values_list("name", flat=True)) == {"Sales", "Finance"}


def test_bad_rows_are_all_reported_and_nothing_is_created(db, employee):
    data = csv_bytes(
        "ok@example.com,Ok,Person,Sales,employee",
        "not-an-email,Bad,Email,Sales,employee",
        "role@example.com,Bad,Role,Sales,manager",
        "ok@example.com,Twice,Listed,Sales,employee",
        f"{employee.email},Already,There,Sales,employee",
        "short@example.com,Too,Few",
    )
    before = User.objects.count()
    result = import_bytes(data, actor=None, invite=True)
    assert not result.ok
    assert result.errors == [
        "Line 3: “not-an-email” is not a valid email address.",
        "Line 4: unknown role “manager” (use employee, executive or it_staff).",
        "Line 5: ok@example.com appears twice in the file (first on line 2).",
        "Line 7: expected 5 values, found 3.",
        f"Line 6: {employee.email} already has an account.",
    ]
    assert User.objects.count() == before
    assert not Invitation.objects.exists() and not OutboxMessage.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            "email,first_name,last_name,department,role\nzoë@example.com,Zoë,Brontë,Ventes,employee\n".encode(
                "latin-1"
            ),
            "not UTF-8",
        ),
        ("email,first_name,last_name,department,role\r\n".encode("utf-16"), "not UTF-8"),
        (b"", "The file is empty"),
        (b"name,mail\nx,y\n", "missing column(s) email, first_name, last_name, department, role"),
        (HEADER.encode(), "no users"),
        (b"\x00\x01\x02binary", "NUL bytes"),
    ],
)
def test_files_that_are_not_usable_say_why(db, data, message):
    result = import_bytes(data, actor=None, invite=False)
    assert not result.ok and message in result.errors[0]
    assert not User.objects.exists()


def test_utf8_with_a_bom_and_excel_headers_is_fine(db):
    data = "\ufeffEmail,First Name,Last Name,Department,Role\r\nzoe@example.com,Zoë,Brontë,Ventes,employee\r\n"
    result = import_bytes(data.encode("utf-8"), actor=None, invite=False)
    assert result.ok and User.objects.get().first_name == "Zoë"


def test_ten_thousand_rows_import_in_one_go(db):
    rows = [f"person{n}@example.com,First{n},Last{n},Dept{n % 20},employee" for n in range(10_000)]
    result = import_bytes(csv_bytes(*rows), actor=None, invite=False)
    assert result.ok and User.objects.count() == 10_000 and Department.objects.count() == 20
    assert AuditEvent.objects.get(action="users.imported").details["count"] == 10_000


def test_ten_thousand_rows_with_one_bad_row_import_nothing(db):
    rows = [f"person{n}@example.com,First{n},Last{n},Dept,employee" for n in range(10_000)]
    rows[9_876] = "person9876@example,First,Last,Dept,employee"
    result = import_bytes(csv_bytes(*rows), actor=None, invite=False)
    assert result.errors == ["Line 9878: “person9876@example” is not a valid email address."]
    assert not User.objects.exists()


def test_importing_with_invitations_queues_one_per_user(db, it_staff):
    result = import_bytes(
        csv_bytes("ana@example.com,Ana,Silva,Sales,employee", "ben@example.com,Ben,Ode,Sales,employee"),
        actor=it_staff,
        invite=True,
    )
    assert result.ok
    assert Invitation.objects.filter(created_by=it_staff).count() == 2
    assert sorted(e.to[0] for e in OutboxMessage.objects.filter(kind="accounts-invitation")) == [
        "ana@example.com",
        "ben@example.com",
    ]


def test_the_upload_page_reports_errors_and_imports(client, login, it_staff):
    login(client, it_staff)
    bad = SimpleUploadedFile("people.csv", csv_bytes("x@example.com,X,Y,Sales,boss"), content_type="text/csv")
    response = client.post(reverse("users_import"), {"file": bad, "send_invitations": "on"})
    assert response.status_code == 200 and "Nothing was imported" in response.content.decode()
    assert "unknown role “boss”" in response.content.decode()
    good = SimpleUploadedFile("people.csv", csv_bytes("x@example.com,X,Y,Sales,employee"), content_type="text/csv")
    response = client.post(reverse("users_import"), {"file": good, "send_invitations": "on"})
    assert response["Location"] == reverse("users")
    assert Invitation.objects.filter(user__email="x@example.com").exists()


def test_the_management_command(tmp_path, db, capsys):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes("ana@example.com,Ana,Silva,Sales,employee"))
    call_command("import_users", str(path), "--invite")
    assert "Imported 1 users and queued their invitations." in capsys.readouterr().out
    path.write_bytes(csv_bytes("ana@example.com,Ana,Silva,Sales,employee", "bad,B,C,D,employee"))
    with pytest.raises(CommandError, match="nothing imported: 2 problem"):
        call_command("import_users", str(path))
    assert User.objects.count() == 1
