"""The demo organisation's people (``python manage.py demo``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from accounts.models import Department, User
from accounts.roles import Role

DEMO_DOMAIN = "example.com"


@dataclass(frozen=True)
class DemoPerson:
    email: str
    first_name: str
    last_name: str
    role: str
    department: str


PEOPLE = [
    DemoPerson(f"it@{DEMO_DOMAIN}", "Ines", "Torres", Role.IT_STAFF, "Operations"),
    DemoPerson(f"ceo@{DEMO_DOMAIN}", "Evelyn", "Marsh", Role.EXECUTIVE, "Operations"),
    DemoPerson(f"alice@{DEMO_DOMAIN}", "Alice", "Okafor", Role.EMPLOYEE, "Sales"),
    DemoPerson(f"bob@{DEMO_DOMAIN}", "Bob", "Lindqvist", Role.EMPLOYEE, "Sales"),
    DemoPerson(f"chen@{DEMO_DOMAIN}", "Chen", "Wei", Role.EMPLOYEE, "Sales"),
    DemoPerson(f"dana@{DEMO_DOMAIN}", "Dana", "Kowalski", Role.EMPLOYEE, "Operations"),
    DemoPerson(f"emil@{DEMO_DOMAIN}", "Emil", "Haddad", Role.EMPLOYEE, "Operations"),
]


def demo_password() -> str:
    """One password for every demo user, generated once into var/ (never committed)."""
    path = settings.VAR_DIR / "demo-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


@transaction.atomic
def load_people(password: str) -> list[User]:
    users = []
    for person in PEOPLE:
        department, _ = Department.objects.get_or_create(name=person.department)
        user, created = User.objects.get_or_create(
            email=person.email,
            defaults={
                "first_name": person.first_name,
                "last_name": person.last_name,
                "role": person.role,
                "department": department,
                "is_staff": person.role == Role.IT_STAFF,
            },
        )
        if created or not user.has_usable_password():
            user.set_password(password)
            user.save(update_fields=["password"])
        users.append(user)
    return users
