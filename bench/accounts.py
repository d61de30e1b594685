"""Accounts figures: CSV import of 10,000 people, OTP coverage and the users list at that size, backup codes.

Runs on a fresh SQLite database (or DATABASE_URL if you set it to a scratch PostgreSQL database).

    .venv/bin/python bench/accounts.py
"""

from __future__ import annotations

import os
import statistics
import time

from _scratch import scratch_django

scratch_django("accounts", database_url=os.environ.get("DATABASE_URL"))

from importlib import import_module  # noqa: E402

from django.conf import settings  # noqa: E402
from django.contrib.auth import SESSION_KEY  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from accounts import backup_codes, lifecycle  # noqa: E402
from accounts.coverage import otp_coverage  # noqa: E402
from accounts.models import BackupCodeDevice, User  # noqa: E402
from accounts.users_import import import_bytes  # noqa: E402
from portal.models import OutboxMessage  # noqa: E402
from tests.conftest import otp_sign_in  # noqa: E402

ROWS = 10_000
REPEAT = 10
SESSIONS = 2_000


def csv_file(prefix: str) -> bytes:
    lines = ["email,first_name,last_name,department,role"]
    lines += [f"{prefix}{n}@example.com,First{n},Last{n},Dept{n % 25},employee" for n in range(ROWS)]
    return ("\n".join(lines) + "\n").encode()


def timed(fn, repeat: int = REPEAT) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


def main() -> None:
    print(f"database: {connection.vendor}")

    started = time.perf_counter()
    result = import_bytes(csv_file("plain"), actor=None, invite=False)
    assert result.ok
    print(f"import {ROWS} rows, no invitations: {time.perf_counter() - started:.2f} s")

    started = time.perf_counter()
    result = import_bytes(csv_file("invited"), actor=None, invite=True)
    assert result.ok
    print(
        f"import {ROWS} rows with invitations: {time.perf_counter() - started:.2f} s "
        f"({OutboxMessage.objects.count()} emails queued)"
    )

    bad = csv_file("plain").replace(b"plain9999@example.com", b"not-an-email")
    started = time.perf_counter()
    result = import_bytes(bad, actor=None, invite=False)
    print(
        f"check {ROWS} rows and refuse the file (1 bad row, 9,999 duplicates): "
        f"{time.perf_counter() - started:.2f} s, {len(result.errors)} errors"
    )

    # Half of the people enrolled.
    TOTPDevice.objects.bulk_create(
        TOTPDevice(user_id=pk, name="Phone", confirmed=True)
        for pk in User.objects.filter(email__startswith="plain").values_list("pk", flat=True)
    )
    with CaptureQueriesContext(connection) as queries:
        ms, coverage = timed(otp_coverage)
    print(
        f"otp_coverage() over {coverage['total']} users: {ms:.1f} ms median, "
        f"{len(queries) // REPEAT} queries ({coverage['percent']} % enrolled)"
    )

    it = User.objects.create_user("it-bench@example.com", role="it_staff", is_staff=True)
    client = Client()
    otp_sign_in(client, it)
    for label, url in [
        ("users list, page 1", "/accounts/users/"),
        ("users list, pending filter", "/accounts/users/?otp=pending"),
        ("coverage page", "/accounts/coverage/"),
    ]:
        ms, response = timed(lambda url=url: client.get(url))
        assert response.status_code == 200
        print(f"GET {label}: {ms:.1f} ms median")
    started = time.perf_counter()
    response = client.get("/accounts/coverage.csv")
    size = sum(len(chunk) for chunk in response.streaming_content)
    print(f"coverage CSV of {User.objects.count()} users: {time.perf_counter() - started:.2f} s, {size // 1024} KiB")

    ms, _ = timed(lambda: backup_codes.regenerate(it), repeat=3)
    print(f"make 10 backup codes (PBKDF2-SHA256, 20,000 iterations each): {ms:.0f} ms")
    device = BackupCodeDevice.objects.get(user=it)

    def worst_case() -> bool:
        device.throttle_reset()
        return device.verify_token("zzzzz-zzzzz")

    ms, _ = timed(worst_case, repeat=5)
    print(f"check a wrong backup code against 10 unused codes: {ms:.0f} ms")

    # Deactivation finds a person's sessions by reading every live session (accounts.lifecycle).
    store = import_module(settings.SESSION_ENGINE).SessionStore
    people = list(User.objects.filter(email__startswith="plain").values_list("pk", flat=True)[:SESSIONS])
    for pk in people:
        session = store()
        session.update({SESSION_KEY: str(pk), "otp_verified_at": 1})
        session.create()
    ms, keys = timed(lambda: lifecycle.session_keys(people[-1]), repeat=3)
    print(f"find one person's sessions among {len(people)} live sessions: {ms:.0f} ms ({len(keys)} found)")
    person = User.objects.get(pk=people[-1])
    started = time.perf_counter()
    person.is_active = False
    person.save()
    print(
        f"deactivate a person (end their sessions) among {len(people)} sessions: "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
