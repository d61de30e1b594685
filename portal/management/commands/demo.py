from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts import demo as accounts_demo
from monitoring.dnsbl import demo as dnsbl_demo
from monitoring.serverload import demo as serverload_demo
from policies import demo as policies_demo


class Command(BaseCommand):
    help = "Create (or refresh) the demo organisation. Safe to run again."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", help="Password for new demo users (default: generated into var/)")

    def handle(self, *args, password: str | None = None, **options) -> None:
        password = password or accounts_demo.demo_password()
        users = accounts_demo.load_people(password)
        lines = [*accounts_demo.load(), *policies_demo.load(), *dnsbl_demo.load(), *serverload_demo.load()]
        for line in lines:
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"Demo organisation ready: {len(users)} people."))
        self.stdout.write(f"Open {settings.PORTAL_BASE_URL}/ and sign in as one of:")
        for user in users:
            self.stdout.write(f"  {user.email:<22} {user.get_role_display():<10} password: {password}")
