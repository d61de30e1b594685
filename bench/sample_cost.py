"""CPU time of one load sample on this machine (target, issue 6: at most 30 ms).

Runs the sampler the way the tick does, against a fresh SQLite database: the
first reading (the discarded baseline) is taken, then N samples are timed with
the process's CPU clock, children included (the queue command runs as a child
where Postfix or Exim is installed). The DB write and the alert check are
included: they are part of every sample.

    .venv/bin/python bench/sample_cost.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from _scratch import scratch_django

scratch_django("sample")

import psutil  # noqa: E402

from monitoring.serverload import alerts, mailqueue, sampling  # noqa: E402
from monitoring.serverload.models import LoadSettings, LoadThreshold  # noqa: E402

SAMPLES = 40


def cpu_seconds() -> float:
    # process_time has nanosecond resolution; os.times (clock ticks) only counts the finished children.
    children = os.times()
    return time.process_time() + children.children_user + children.children_system


def main() -> int:
    LoadThreshold.ensure_defaults()
    settings = LoadSettings.load()
    settings.line_download_mbps, settings.line_upload_mbps = 100, 20
    settings.save()
    assert sampling.take_sample() is None  # the first reading is only the baseline

    timings, walls = [], []
    for _ in range(SAMPLES):
        time.sleep(0.05)  # let the counters move, as a minute would
        started, started_wall = cpu_seconds(), time.perf_counter()
        sample = sampling.take_sample()
        alerts.evaluate(sample)
        timings.append((cpu_seconds() - started) * 1000)
        walls.append((time.perf_counter() - started_wall) * 1000)

    processes = len(psutil.pids())
    sockets = sum(1 for _ in open("/proc/net/tcp")) - 1 if os.path.exists("/proc/net/tcp") else "?"  # noqa: SIM115
    command = mailqueue.queue_command(settings)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"machine: {psutil.cpu_count()} cores, load {load}, {processes} processes, {sockets} IPv4 TCP sockets")
    print(f"queue command: {command or 'none found'}")
    print(f"last sample: CPU {sample.cpu} %, load {sample.load} %, memory {sample.memory} %, disk {sample.disk} %,")
    print(f"  {len(sample.interfaces)} line interface(s), {sample.connections} mail connections, mail server: "
          f"{sample.mail_server or 'none found'}")  # fmt: skip
    print(f"CPU time of one sample (sampling + storing + alert check), {SAMPLES} samples:")
    median, wall = statistics.median(timings), statistics.median(walls)
    print(f"  median {median:.1f} ms, min {min(timings):.1f}, max {max(timings):.1f} ms; wall median {wall:.1f} ms")
    ok = statistics.median(timings) <= 30
    print(f"target <= 30 ms: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
