"""python manage.py import_users FILE.csv [--invite]: all rows or none, one error per bad row."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.users_import import COLUMNS, import_bytes


class Command(BaseCommand):
    help = f"Import users from a UTF-8 CSV file with the columns {', '.join(COLUMNS)}. All rows or none."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--invite", action="store_true", help="email each new user an invitation link")

    def handle(self, *args, file: Path, invite: bool, **options) -> None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        result = import_bytes(data, actor=None, invite=invite, source=f"import_users {file.name}")
        if not result.ok:
            for error in result.errors:
                self.stderr.write(error)
            raise CommandError(f"nothing imported: {len(result.errors)} problem(s) in {file}")
        self.stdout.write(
            f"Imported {len(result.created)} users" + (" and queued their invitations." if invite else ".")
        )
