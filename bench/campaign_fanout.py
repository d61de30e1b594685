"""Benchmark: one campaign to 5,000 recipients through Redis, a real worker (concurrency 2) and a real SMTP server.

Target (issue 4): at least 100 emails per second on 2 cores, and 0 duplicates.

Self-contained: a fresh SQLite database in a temporary folder (bench/_scratch.py), Redis database 12
unless BENCH_REDIS_URL says otherwise (it is flushed), the aiosmtpd server from tests/smtp.py in this process and a real
``celery worker --concurrency 2`` from tests/services.py. Prints emails per second, the time from the
campaign being due to the last delivery, and duplicates.

    .venv/bin/python bench/campaign_fanout.py [--recipients 5000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter

from _scratch import ROOT, scratch_django


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).flushdb()
    except redis.RedisError as exc:
        print(f"Redis is not reachable at {redis_url}: {exc}")
        return 1

    work = scratch_django("campaign", CELERY_BROKER_URL=redis_url, LOG_LEVEL="WARNING")
    from django.utils import timezone

    from accounts.models import User
    from policies import dispatch
    from policies.models import Campaign, Delivery
    from tests.services import WorkerProcess
    from tests.smtp import SMTPServer

    User.objects.bulk_create(
        User(email=f"person{i:05d}@example.com", first_name=f"Person {i}") for i in range(args.recipients)
    )
    smtp = SMTPServer().start()
    worker_env = {**os.environ, **smtp.env(), "PYTHONPATH": str(ROOT)}
    worker = WorkerProcess(worker_env, work / "worker.log", args.concurrency, name="bench").start()
    try:
        due = timezone.now()
        Campaign.objects.create(
            name="Benchmark reminder",
            subject="Please use webmail away from the office",
            message="Use **webmail** over HTTPS with your one-time code.",
            starts_at=due,
            next_run_at=due,
        )
        started = time.monotonic()
        dispatch.tick()
        deadline = started + 600
        first_mail_at = None
        while time.monotonic() < deadline:
            received = len(smtp.messages)
            if received and first_mail_at is None:
                first_mail_at = time.monotonic()
            sent = Delivery.objects.filter(status=Delivery.Status.SENT).count()
            if sent >= args.recipients and received >= args.recipients:
                break
            time.sleep(0.2)
        finished = time.monotonic()
        time.sleep(1)  # anything that would arrive twice arrives now
        messages = smtp.messages
        per_recipient = Counter(m.rcpt_tos[0] for m in messages)
        duplicates = sum(n - 1 for n in per_recipient.values() if n > 1)
        statuses = dict(Counter(Delivery.objects.values_list("status", flat=True)))
        last_sent = Delivery.objects.order_by("-sent_at").values_list("sent_at", flat=True).first()
    finally:
        worker.stop()
        smtp.stop()

    total = finished - started
    sending = finished - (first_mail_at or started)
    print(f"recipients            {args.recipients}")
    print(f"worker concurrency    {args.concurrency} (prefork), broker {redis_url}, SQLite")
    print(f"emails received       {len(messages)} (distinct recipients {len(per_recipient)})")
    print(f"delivery rows         {statuses}")
    print(f"due -> last delivery  {total:.2f} s (database: {(last_sent - due).total_seconds():.2f} s)")
    print(f"emails per second     {len(messages) / total:.0f} overall, {len(messages) / sending:.0f} while sending")
    print(f"duplicates            {duplicates}")
    ok = duplicates == 0 and len(per_recipient) == args.recipients and len(messages) / total >= 100
    print(f"target (>= 100/s, 0 duplicates, everyone once): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
