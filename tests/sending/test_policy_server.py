"""The policy service's transport, spoken to with raw bytes: good requests, malformed ones, many connections."""

from __future__ import annotations

import contextlib
import gc
import socket
import time

import pytest

from monitoring.sending.policy import protocol
from monitoring.sending.policy import server as server_module
from monitoring.sending.policy.counters import MemoryCounters
from monitoring.sending.policy.decision import Limits, Rules, Snapshot
from tests.policyservice import PolicyClient, end_of_message, rcpt


def connect(server) -> PolicyClient:
    return PolicyClient(server.address)


def test_one_connection_carries_many_requests(run_policy_server):
    client = connect(run_policy_server(counters=MemoryCounters()))
    assert [client.ask(rcpt("erin@example.com", recipient=f"r{n}@example.org")) for n in range(3)] == ["DUNNO"] * 3
    assert client.ask(end_of_message("erin@example.com", recipients=3)) == "DUNNO"


def test_requests_sent_back_to_back_are_answered_in_order(run_policy_server):
    client = connect(run_policy_server())
    client.send(b"".join(protocol.encode(rcpt("erin@example.com", recipient=f"r{n}@x.test")) for n in range(12)))
    answers = [client.read_answer() for _ in range(12)]
    assert answers == ["DUNNO"] * 10 + [answers[10]] * 2 and answers[10].startswith("DEFER 4.7.1")


def test_it_listens_on_a_unix_socket(run_policy_server, tmp_path):
    path = str(tmp_path / "policy.sock")
    service = run_policy_server(listen=path)
    assert service.address == path and oct((tmp_path / "policy.sock").stat().st_mode & 0o777) == "0o660"
    assert PolicyClient(path).ask(rcpt("erin@example.com")) == "DUNNO"


def test_a_status_request_says_what_it_serves(run_policy_server):
    answer = connect(run_policy_server()).ask({"request": "portal_status"})
    assert answer.startswith("OK 1.1 1 ") and answer.endswith(" memory")


@pytest.mark.parametrize(
    "request_",
    [
        {"protocol_state": "RCPT", "sasl_username": "erin@example.com"},  # no request attribute
        {"request": "smtpd_access_policy"},  # no protocol_state
        {"request": "smtpd_access_policy", "protocol_state": "RCPT", "recipient_count": "lots"},
        {"request": "what_is_this"},
    ],
)
def test_a_request_missing_attributes_is_answered_dunno_and_the_connection_goes_on(run_policy_server, request_):
    service = run_policy_server()
    client = connect(service)
    assert client.ask(request_) == "DUNNO"
    assert client.ask(rcpt("erin@example.com")) == "DUNNO"
    assert service.recorder.pending.malformed == 1


def test_an_empty_request_is_answered_dunno(run_policy_server):
    client = connect(run_policy_server())
    client.send(b"\n")
    assert client.read_answer() == "DUNNO"
    assert client.ask(rcpt("erin@example.com")) == "DUNNO"


@pytest.mark.parametrize(
    "junk",
    [
        b"request=smtpd_access_policy\nsender=" + b"a" * 5000 + b"\n\n",  # an oversized line
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\n\n",  # not name=value
        bytes(range(1, 256)) * 200,  # binary junk without an empty line, past the request limit
        b"x=" + b"\x00" * 100 + b"\n\n",
    ],
)
def test_bytes_that_are_not_requests_close_that_connection_only(run_policy_server, junk):
    service = run_policy_server()
    bystander = connect(service)
    assert bystander.ask(rcpt("erin@example.com")) == "DUNNO"
    client = connect(service)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        client.send(junk)
    assert client.closed()
    assert bystander.ask(rcpt("erin@example.com", recipient="again@example.org")) == "DUNNO"


def test_a_client_that_never_ends_its_request_is_dropped(run_policy_server, monkeypatch):
    monkeypatch.setattr(server_module, "REQUEST_SECONDS", 0.5)
    service = run_policy_server()
    slow = connect(service)
    slow.send(b"request=smtpd_access_policy\nprotocol_state=RCPT\n")  # and never the empty line
    started = time.monotonic()
    bystander = connect(service)
    assert bystander.ask(rcpt("erin@example.com")) == "DUNNO"
    assert slow.closed() and time.monotonic() - started < 5
    assert service.connections == 1


def test_many_connections_at_once_are_all_answered(run_policy_server):
    service = run_policy_server()
    clients = [connect(service) for _ in range(300)]
    for number, client in enumerate(clients):
        client.send(protocol.encode(rcpt(f"user{number}@example.com")))
    assert {client.read_answer() for client in clients} == {"DUNNO"}
    assert service.connections == 300


def test_past_the_connection_limit_the_newest_is_closed_at_once(run_policy_server, monkeypatch):
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 20)
    service = run_policy_server()
    clients = [connect(service) for _ in range(20)]
    assert clients[-1].ask(rcpt("erin@example.com")) == "DUNNO"
    extra = connect(service)
    assert extra.closed()
    assert clients[0].ask(rcpt("erin@example.com")) == "DUNNO"


def test_a_client_that_goes_away_mid_request_harms_nothing(run_policy_server):
    service = run_policy_server()
    for _ in range(20):
        with socket.create_connection(service.address) as sock:
            sock.sendall(b"request=smtpd_access_policy\nprotocol_st")
    assert connect(service).ask(rcpt("erin@example.com")) == "DUNNO"
    deadline = time.monotonic() + 5
    while service.connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert service.connections == 0


def test_the_limit_defers_and_a_burst_refuses_the_next_requests_at_once(run_policy_server):
    service = run_policy_server()
    client = connect(service)
    answers = [client.ask(rcpt("erin@example.com", recipient=f"r{n}@x.test", instance=str(n))) for n in range(25)]
    assert answers[:10] == ["DUNNO"] * 10
    assert all(a.startswith("DEFER 4.7.1") for a in answers[10:19])
    assert answers[19].startswith("REJECT 5.7.1 Unusual sending volume")  # 20 distinct recipients tried
    assert all(a.startswith("REJECT 5.7.1 Sending from this account is suspended") for a in answers[20:])
    assert [burst.user_id for burst in service.recorder.pending.bursts] == [1]
    assert client.ask(end_of_message("erin@example.com")).startswith("REJECT 5.7.1")


def test_a_snapshot_reload_runs_no_full_garbage_collection(run_policy_server, monkeypatch):
    # A full collection walks the whole heap with the interpreter's lock held (30 ms with Django loaded), and
    # every answer waits for it: the heap is collected and frozen once, with the first data, never at a reload.
    loads = []

    def load():
        loads.append(time.monotonic())
        return Snapshot(version=(1, 1), rules=Rules(defaults=Limits(10, 100, 10)))  # loaded_at 0: reloaded at each poll

    def wait_for_loads(count: int) -> None:
        deadline = time.monotonic() + 10
        while len(loads) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(loads) >= count, "the service did not reload its snapshot"

    # Count the service's calls: the frozen count itself also falls when a frozen object dies (the first
    # snapshot, once replaced), so it cannot tell whether a reload froze again.
    calls = []
    collect, freeze = gc.collect, gc.freeze
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append("collect") or collect(*args))
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze") or freeze())
    service = run_policy_server(load=load, poll_seconds=0.01)
    wait_for_loads(2)
    assert calls == ["collect", "freeze"]  # once, with the first data
    full_collections = gc.get_stats()[2]["collections"]
    wait_for_loads(len(loads) + 5)
    assert calls == ["collect", "freeze"]
    assert gc.get_stats()[2]["collections"] - full_collections <= 1  # at most one of the collector's own
    assert connect(service).ask(rcpt("erin@example.com")) == "DUNNO"
