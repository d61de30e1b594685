"""The senders' counters: sliding windows in memory, the same in Redis shared by two services."""

from __future__ import annotations

from monitoring.sending.policy.counters import HOUR, MemoryCounters, RedisCounters
from tests.mailclients import run_coroutine
from tests.policyservice import PolicyClient, rcpt

T0 = 1_700_000_000 // HOUR * HOUR  # the start of an hour


def run(coroutine):
    return run_coroutine(coroutine)


def test_memory_counts_within_a_window_exactly_and_weighs_the_previous_one():
    counters = MemoryCounters()

    for n in range(6):
        counters.read("erin", f"r{n}", T0 + 10)
        counters.add("erin", T0 + 10, message=n == 0)
    inside = counters.read("erin", "r0", T0 + 20)
    later = counters.read("erin", "r0", T0 + HOUR + HOUR // 4)
    gone = counters.read("erin", "r0", T0 + 2 * HOUR + 1)
    assert (inside.recipients_hour, inside.messages_minute, inside.tried_hour) == (6, 1, 6)
    assert later.recipients_hour == 4.5  # 6 x three quarters of the previous hour still inside the window
    assert later.recipients_day == 6
    assert later.tried_hour == 1 + 4.5  # r0 again this hour, and the previous hour's six weighted
    assert gone.recipients_hour == 0


def test_a_recipient_tried_again_is_not_tried_twice():
    counters = MemoryCounters()

    for _ in range(5):
        counts = counters.read("erin", "same@example.org", T0)
    assert counts.tried_hour == 1


def test_idle_logins_are_forgotten():
    counters = MemoryCounters()
    counters.read("erin", "r", T0)
    assert counters.forget_idle(T0 + 3 * 86400) == 1 and counters.logins == {}


def test_redis_keeps_the_same_figures(redis_server):
    async def scenario():
        counters = RedisCounters(redis_server, prefix="test:sending:")
        try:
            for n in range(6):
                await counters.read("erin", f"r{n}", T0 + 10)
                await counters.add("erin", T0 + 10, message=n == 0)
            inside = await counters.read("erin", "r0", T0 + 20)
            later = await counters.read("erin", "r0", T0 + HOUR + HOUR // 4)
        finally:
            await counters.close()
        return inside, later

    inside, later = run(scenario())
    assert (inside.recipients_hour, inside.messages_minute, inside.tried_hour) == (6, 1, 6)
    assert (later.recipients_hour, later.recipients_day) == (4.5, 6)


def test_two_services_on_one_redis_share_the_limits(run_policy_server, redis_server):
    first = run_policy_server(counters=RedisCounters(redis_server))
    second = run_policy_server(counters=RedisCounters(redis_server))
    a, b = PolicyClient(first.address), PolicyClient(second.address)
    answers = []
    for n in range(12):
        client = a if n % 2 else b
        answers.append(client.ask(rcpt("erin@example.com", recipient=f"r{n}@x.test", instance=f"m{n}")))
    assert answers[:10] == ["DUNNO"] * 10  # the limit is 10 recipients an hour for both together
    assert answers[10].startswith("DEFER 4.7.1") and answers[11].startswith("DEFER 4.7.1")
    assert a.ask({"request": "portal_status"}).endswith(" redis")


def test_with_redis_unreachable_it_counts_in_memory_and_still_answers(run_policy_server):
    service = run_policy_server(counters=RedisCounters("redis://127.0.0.1:1/0", timeout=0.2))
    client = PolicyClient(service.address)
    answers = [client.ask(rcpt("erin@example.com", recipient=f"r{n}@x.test", instance=str(n))) for n in range(11)]
    assert answers[:10] == ["DUNNO"] * 10 and answers[10].startswith("DEFER 4.7.1")
    assert service.memory.logins["erin@example.com"].hour.current == 10
