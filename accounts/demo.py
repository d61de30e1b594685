"""The demo organisation's people (``python manage.py demo``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Department, OrganisationSettings, User
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

OVERDUE = {f"dana@{DEMO_DOMAIN}", f"emil@{DEMO_DOMAIN}"}


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
        if created and person.email in OVERDUE:
            # Two people who joined weeks ago and never enrolled: the coverage page shows them overdue.
            User.objects.filter(pk=user.pk).update(otp_grace_start=timezone.now() - timedelta(days=21))
        users.append(user)
    OrganisationSettings.load()
    return users


def load() -> list[str]:
    """What the demo's sign-in asks for (the people themselves come from ``load_people``)."""
    return [
        "Sign-in asks for a one-time code: at the first sign-in each demo user enrols an authenticator app",
        "(scan the QR code, or type the key shown under it into e.g. FreeOTP, Aegis or `oathtool --totp -b KEY`).",
        f"{', '.join(sorted(OVERDUE))} are overdue for enrolment (see Users > OTP coverage).",
    ]
