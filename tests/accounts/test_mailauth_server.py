"""The verifier's asyncio transport over a real Unix socket, with a fixed snapshot (no database)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import pytest

from accounts.mailauth import passwords
from accounts.mailauth.decision import PasswordFacts, Policy, Snapshot, UserFacts
from accounts.mailauth.protocol import MAX_LINE, encode
from accounts.mailauth.server import Verifier
from tests.mailclients import run_coroutine

SALT = b"\x01" * 16
SECRET = "abcd-efgh-jkmn-pqrs-tuvw-xyza"


def snapshot() -> Snapshot:
    erin = UserFacts(1, "erin@example.com", True, "erin")
    digest = passwords.digest(SALT, passwords.normalise(SECRET))
    return Snapshot(
        version=7,
        policy=Policy(mailbox="refused"),
        users_by_login={"erin@example.com": erin, "erin": erin},
        users_by_id={1: erin},
        passwords_by_user={1: (PasswordFacts(3, 1, "Laptop", SALT, digest, True, False, "active", True),)},
        loaded_at=1.0,
    )


@pytest.fixture
def socket_path():
    folder = tempfile.mkdtemp(prefix="verifier-")
    yield str(Path(folder) / "v.sock")
    for name in os.listdir(folder):
        os.unlink(Path(folder) / name)
    os.rmdir(folder)


def run_with_verifier(socket_path: str, talk, load=snapshot) -> object:
    """Start a verifier on ``socket_path``, run ``talk(reader, writer)`` against it, stop it."""

    async def main():
        verifier = Verifier(socket_path=socket_path, poll_seconds=100, write_seconds=100, load=load)
        ready = asyncio.Event()
        server = asyncio.create_task(verifier.run(ready=ready.set))
        await asyncio.wait_for(ready.wait(), 5)
        for _ in range(100):  # the first load happens in the poll loop
            if verifier.snapshot is not None or load is not snapshot:
                break
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_unix_connection(socket_path)
        try:
            return await talk(reader, writer)
        finally:
            writer.close()
            verifier.stop()
            await asyncio.wait_for(server, 10)

    return run_coroutine(main())


async def ask(reader, writer, line: bytes) -> bytes:
    writer.write(line)
    await writer.drain()
    return await asyncio.wait_for(reader.readline(), 5)


def test_it_answers_many_requests_on_one_connection(socket_path):
    async def talk(reader, writer):
        return [
            await ask(reader, writer, b"VERIFY\t1\timap\terin\t192.0.2.1\t" + encode(SECRET) + b"\n"),
            await ask(reader, writer, b"VERIFY\t2\tsmtp\terin\t192.0.2.1\t" + encode(SECRET) + b"\n"),
            await ask(reader, writer, b"VERIFY\t3\timap\tnobody\t192.0.2.1\tx\n"),
            await ask(reader, writer, b"VERIFY\t4\timap\terin\t192.0.2.1\tmailbox\n"),
            await ask(reader, writer, b"MAILBOX\t5\tfailed\timap\terin\t192.0.2.1\n"),
            await ask(reader, writer, b"PING\t6\n"),
        ]

    answers = run_with_verifier(socket_path, talk)
    assert answers[0] == b"OK\t1\terin\n"
    assert answers[1] == b"FAIL\t2\tapp password may not send mail\n"
    assert answers[2] == b"UNKNOWN\t3\n"
    assert answers[3].startswith(b"FAIL\t4\tnot an app password")
    assert answers[4] == b"DONE\t5\n"
    assert answers[5].startswith(b"PONG\t6\t7\t1\t1\t")


def test_a_malformed_request_gets_an_error_and_the_connection_is_closed(socket_path):
    async def talk(reader, writer):
        error = await ask(reader, writer, b"VERIFY\t9\timap\terin\n")
        return error, await reader.read()

    error, rest = run_with_verifier(socket_path, talk)
    assert error.startswith(b"ERROR\t9\t")
    assert rest == b""


def test_an_overlong_line_is_refused_without_reading_it_all(socket_path):
    async def talk(reader, writer):
        writer.write(b"VERIFY\t1\t" + b"x" * (MAX_LINE * 4) + b"\n")
        await writer.drain()
        return await reader.read()

    assert run_with_verifier(socket_path, talk).startswith(b"ERROR\t0\tline too long")


def test_without_data_it_answers_temporary_failure(socket_path):
    def broken_database():
        raise ConnectionError("database down")

    async def talk(reader, writer):
        return (
            await ask(reader, writer, b"VERIFY\t1\timap\terin\t\t" + encode(SECRET) + b"\n"),
            await ask(reader, writer, b"PING\t2\n"),
        )

    verify, ping = run_with_verifier(socket_path, talk, load=broken_database)
    assert verify == b"TEMPFAIL\t1\tverifier has not loaded its data yet\n"
    assert ping == b"PONG\t2\t0\t0\t0\t-1\n"


def test_a_stale_socket_file_is_replaced_and_a_live_one_is_not(socket_path):
    import socket as sockets

    stale = sockets.socket(sockets.AF_UNIX)
    stale.bind(socket_path)
    stale.close()  # a file nobody listens on, as a killed verifier leaves it

    async def talk(reader, writer):
        second = Verifier(socket_path=socket_path, load=snapshot)
        with pytest.raises(SystemExit, match="already listening"):
            second._listen()
        return await ask(reader, writer, b"PING\t1\n")

    assert run_with_verifier(socket_path, talk).startswith(b"PONG\t1\t7")
    assert not os.path.exists(socket_path)  # removed on the way out
