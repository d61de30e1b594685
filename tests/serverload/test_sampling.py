"""Sampling this machine with real psutil: ranges, the discarded first reading, rates across processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from datetime import timedelta

import psutil
import pytest
from django.utils import timezone

from monitoring.serverload import mailqueue, sampling
from monitoring.serverload.models import LoadSample, LoadSettings, LoadState


def test_it_discards_the_first_reading_and_stores_the_second(db):
    now = timezone.now()
    assert sampling.take_sample(now) is None
    assert LoadSample.objects.count() == 0
    assert LoadState.load().previous["cores"]

    sum(i * i for i in range(200_000))  # some CPU time between the readings
    sample = sampling.take_sample(now + timedelta(seconds=60))

    assert sample is not None
    assert 0 <= sample.cpu <= 100
    assert len(sample.cpu_per_core) == psutil.cpu_count()
    assert all(0 <= value <= 100 for value in sample.cpu_per_core)
    assert sample.cores == psutil.cpu_count()
    assert sample.load >= 0 and len(sample.load_average) == 3
    assert 0 < sample.memory <= 100
    assert 0 <= sample.swap <= 100
    assert sample.disks[0]["mount"] == "/"
    assert 0 < sample.disk <= 100
    assert sample.disk_read >= 0 and sample.disk_write >= 0
    assert sample.net_in >= 0 and sample.net_out >= 0
    assert sample.net_in_pct is None  # no line capacity configured yet
    assert sample.connections >= 0


def test_it_discards_a_reading_from_before_a_reboot(db):
    sampling.take_sample()
    state = LoadState.load()
    state.previous["boot"] -= 3600
    state.save()
    assert sampling.take_sample() is None


def test_it_discards_a_stale_reading(db):
    sampling.take_sample()
    state = LoadState.load()
    state.previous["time"] -= 3600
    state.save()
    assert sampling.take_sample() is None


def test_rates_come_from_the_stored_counters_and_the_line_capacity(db):
    settings = LoadSettings.load()
    settings.line_download_mbps, settings.line_upload_mbps = 100, 20
    settings.save()
    previous = sampling.read_counters(settings)
    nic = next(iter(previous["net"]), None)
    if nic is None:
        pytest.skip("this machine has no network interface besides loopback")
    # As if another worker process had read the counters 10 s ago, 10 MB fewer received and 1 MB fewer sent.
    previous["time"] -= 10
    previous["net"][nic] = [previous["net"][nic][0] - 10_000_000, previous["net"][nic][1] - 1_000_000]
    LoadState.objects.update_or_create(pk=1, defaults={"previous": previous})

    sample = sampling.take_sample()

    assert sample.net_in >= 7_000_000  # >= 10 MB * 8 bits over ~10 s
    assert sample.net_out >= 700_000
    assert sample.net_in_pct == pytest.approx(100 * sample.net_in / 100e6, abs=0.1)
    assert sample.net_out_pct == pytest.approx(100 * sample.net_out / 20e6, abs=0.1)
    assert [row["name"] for row in sample.interfaces] == sorted(previous["net"])


def _listen_on_a_free_mail_port() -> tuple[socket.socket, int]:
    for port in (587, 465, 993, 995, 143, 110, 25):
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind(("127.0.0.1", port))
        except OSError:
            server.close()
            continue
        server.listen()
        return server, port
    pytest.skip("every mail port is in use (or binding them needs root)")


def test_it_counts_connections_on_mail_ports_by_state(db):
    server, port = _listen_on_a_free_mail_port()
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    try:
        total, by_port = sampling.connection_figures()
    finally:
        for sock in (accepted, client, server):
            sock.close()
    assert by_port[str(port)]["LISTEN"] >= 1
    assert by_port[str(port)]["ESTABLISHED"] >= 1  # the server side; the client side has an ephemeral port
    assert total >= 1


def test_mail_daemons_are_recognised_by_name_or_folder():
    assert sampling.mail_daemon("dovecot", None) == "Dovecot"
    assert sampling.mail_daemon("master", "/usr/lib/postfix/sbin/master") == "Postfix"
    assert sampling.mail_daemon("imap-login", "/usr/lib/dovecot/imap-login") == "Dovecot"
    assert sampling.mail_daemon("master", "/usr/bin/master") is None
    assert sampling.mail_daemon("python3", "/usr/bin/python3") is None


def test_process_figures_group_by_program_and_count_new_processes_whole():
    previous = {"processes": {"10": {"label": "Postfix", "created": 1.0, "cpu": 5.0, "rss": 10}}}
    current = {
        "processes": {
            "10": {"label": "Postfix", "created": 1.0, "cpu": 6.0, "rss": 1000},
            "11": {"label": "Postfix", "created": 50.0, "cpu": 0.5, "rss": 2000},
            "12": {"label": "Dovecot", "created": 2.0, "cpu": 1.0, "rss": 500},
        }
    }
    groups = {g["name"]: g for g in sampling.process_figures(previous, current, seconds=10, cores=1)}
    assert groups["Postfix"]["count"] == 2
    assert groups["Postfix"]["cpu"] == pytest.approx(15.0)  # (1.0 + 0.5) s over 10 s on one core
    assert groups["Postfix"]["rss"] == 3000
    assert groups["Dovecot"]["cpu"] == pytest.approx(10.0)  # first seen here: all its CPU time counts


def test_line_interfaces_leave_out_loopback_and_virtual_ones():
    names = ["lo", "eth0", "docker0", "veth12ab", "ifb0", "wg0"]
    assert sampling.line_interfaces(names, []) == ["eth0", "wg0"]
    assert sampling.line_interfaces(names, ["wg0"]) == ["wg0"]


def test_a_machine_without_mail_server_says_so(db, monkeypatch, tmp_path):
    # Found automatically, the queue programs are looked up on PATH and the usual folders: point both at an
    # empty folder, so that this machine reads as one without postqueue or exim, installed or not.
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(mailqueue, "SEARCH_PATH", str(tmp_path))
    assert mailqueue.queue_command(LoadSettings.load()) is None
    sampling.take_sample()
    sample = sampling.take_sample()
    assert sample.queue_status == "none"
    assert sample.queue is None
    assert sample.queue_deferred is None
    # Without a queue the mail server is named only by a running daemon (another test's Postfix on this
    # machine, say); none running, the sample names none.
    running = {group["name"] for group in sample.processes if group.get("main")}
    daemons = {group["name"] for group in sample.processes}
    assert sample.mail_server == ("postfix" if "Postfix" in running else "exim" if "Exim" in daemons else "")


def test_two_ticks_at_once_take_one_sample(db):
    now = LoadSettings.load().next_sample_at
    assert sampling.claim_sample(now) is True
    assert sampling.claim_sample(now) is False
    settings = LoadSettings.load()
    assert settings.next_sample_at == now + timedelta(seconds=60)
    assert sampling.claim_sample(now + timedelta(seconds=61)) is True


def test_the_tick_samples_alerts_and_rolls_up(db):
    sampling.tick()
    LoadSettings.objects.update(next_sample_at=timezone.now())
    result = sampling.tick()
    assert LoadSample.objects.count() == 1
    assert result["alerts"] == {}
    assert "rollups" in result["maintenance"]


def test_postqueue_path_is_found_when_installed(db):
    found = shutil.which("postqueue", path="/usr/sbin:/usr/bin")
    command = mailqueue.queue_command(LoadSettings.load())
    if found:
        assert command == ("postfix", [found, "-j"])
    else:
        assert command is None or command[0] == "exim"


def test_proc_and_psutil_agree_on_the_mail_ports(db):
    if sampling._tcp_from_proc() is None:
        pytest.skip("no /proc/net/tcp on this system")
    server, port = _listen_on_a_free_mail_port()
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    try:
        # The server side is what is counted (the client's local port is an ephemeral one).
        from_proc = {s for s in sampling._tcp_from_proc() if s[0] == port}
        from_psutil = {s for s in sampling._tcp_from_psutil() if s[0] == port}
    finally:
        for sock in (accepted, client, server):
            sock.close()
    assert from_proc == from_psutil
    assert (port, 0, "LISTEN") in from_proc


def test_mail_daemons_are_found_among_real_processes(db, tmp_path):
    (tmp_path / "postfix").mkdir()
    shutil.copy("/bin/sleep", tmp_path / "dovecot")
    shutil.copy("/bin/sleep", tmp_path / "postfix" / "master")
    shutil.copy("/bin/sleep", tmp_path / "master")  # a "master" outside a postfix folder is someone else's
    started = [subprocess.Popen([str(path), "30"]) for path in (tmp_path / "dovecot", tmp_path / "postfix" / "master")]
    other = subprocess.Popen([str(tmp_path / "master"), "30"])
    try:
        assert (os.getpid(), psutil.Process().name()[:15]) in sampling.process_names()
        found = sampling.read_counters(LoadSettings.load())["processes"]
    finally:
        for proc in (*started, other):
            proc.kill()
            proc.wait()
    assert found[str(started[0].pid)]["label"] == "Dovecot"
    assert found[str(started[1].pid)]["label"] == "Postfix"
    assert str(other.pid) not in found
    assert found[str(started[0].pid)]["rss"] > 0
