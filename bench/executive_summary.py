"""Benchmark: the executive summary page with 1,000 users and 20 policies on SQLite.

Target (issue 4): under 200 ms of server time per request.

Self-contained: a fresh SQLite database in a temporary folder (bench/_scratch.py), filled with 1,000
people in four departments, 20 published policies (some for one department or role) with about 60 %
acknowledged over 12 weeks, a campaign with 90 days of deliveries and attestation answers. Requests go
through Django's full stack in-process (middleware, the view, the template) as a signed-in, OTP-verified
executive.

    .venv/bin/python bench/executive_summary.py [--users 1000] [--policies 20] [--requests 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time

from _scratch import scratch_django


def fill(users: int, policies: int) -> None:
    from django.utils import timezone

    from accounts.models import Department, User
    from policies.models import (
        Acknowledgement,
        AttestationAnswer,
        AttestationResponse,
        Campaign,
        CampaignRun,
        Delivery,
        Policy,
    )

    rng = random.Random(4)
    departments = [Department.objects.create(name=name) for name in ("Sales", "Operations", "Finance", "Support")]
    roles = ["employee"] * 8 + ["executive", "it_staff"]
    User.objects.bulk_create(
        User(email=f"person{i:05d}@example.com", first_name=f"P{i}", role=rng.choice(roles),
             department=rng.choice(departments))
        for i in range(users)
    )  # fmt: skip
    people = list(User.objects.all())
    now = timezone.now()
    for n in range(policies):
        policy = Policy.objects.create(title=f"Policy {n:02d}", summary="Short.", body="## Rule\n\nDo the right thing.")
        if n % 5 == 0:
            policy.audience_departments.set([departments[n % 4]])
        if n % 7 == 0:
            policy.audience_roles = ["employee"]
            policy.save(update_fields=["audience_roles"])
        policy.publish(by=None, require_acknowledgement=True)
        Acknowledgement.objects.bulk_create(
            Acknowledgement(user=person, policy=policy, version=policy.current_version, version_number=1,
                            acknowledged_at=now - dt.timedelta(days=rng.randint(0, 84)))
            for person in people
            if rng.random() < 0.6
        )  # fmt: skip
    campaign = Campaign.objects.create(name="Devices", kind="attestation", subject="s", message="m", starts_at=now)
    statements = [campaign.statements.create(text=f"Statement {i}", position=i) for i in range(3)]
    for month in range(3):
        run = CampaignRun.objects.create(campaign=campaign, occurrence=now - dt.timedelta(days=30 * month))
        Delivery.objects.bulk_create(
            Delivery(campaign=campaign, run=run, recipient=p, occurrence=run.occurrence, status="sent") for p in people
        )
        for person in people[: users // 2]:
            response = AttestationResponse.objects.create(campaign=campaign, run=run, user=person)
            AttestationAnswer.objects.bulk_create(
                AttestationAnswer(response=response, statement=s, answer=rng.random() < 0.9) for s in statements
            )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--policies", type=int, default=20)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()

    scratch_django("summary", LOG_LEVEL="WARNING")
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import User
    from policies import summary
    from tests.conftest import otp_sign_in

    setup_test_environment()  # allows the test client's "testserver" host
    started = time.monotonic()
    fill(args.users, args.policies)
    print(f"setup                 {time.monotonic() - started:.1f} s")

    executive = User.objects.create_user("ceo@example.com", role="executive", first_name="Evelyn")
    client = Client()
    otp_sign_in(client, executive)
    assert client.get("/policies/summary/").status_code == 200  # warm up (settings row, template cache)
    timings = []
    for _ in range(args.requests):
        t0 = time.perf_counter()
        response = client.get("/policies/summary/")
        timings.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    queries: list[str] = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        summary.build()
    build = []
    for _ in range(10):
        t0 = time.perf_counter()
        data = summary.build()
        build.append((time.perf_counter() - t0) * 1000)
    csv_t0 = time.perf_counter()
    assert client.get("/policies/summary.csv").status_code == 200
    csv_ms = (time.perf_counter() - csv_t0) * 1000

    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(f"users / policies      {User.objects.count()} / {len(data.policy_rates)} "
          f"({data.overall.required} required acknowledgements, {data.overall.percent} % given)")  # fmt: skip
    print(f"GET /policies/summary/ median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, "
          f"max {timings[-1]:.1f} ms over {args.requests} requests")  # fmt: skip
    print(f"summary.build()       median {statistics.median(build):.1f} ms, {len(queries)} queries")
    print(f"GET summary.csv       {csv_ms:.1f} ms")
    ok = statistics.median(timings) < 200
    print(f"target (< 200 ms server time per request, median): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
