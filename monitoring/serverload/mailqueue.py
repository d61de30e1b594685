"""The mail queue and the mail system's state: what ``postqueue -j`` (or ``exim -bpc``) says, and whether
Postfix's master process runs. Only fixed programs are run, found on a fixed search path: nothing typed on
a web page becomes a command line (``LoadSettings.queue_program`` picks one of ``QUEUE_PROGRAMS``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psutil

from monitoring.serverload.models import LoadSample, LoadSettings

QUEUE_TIMEOUT = 20


@dataclass
class QueueReading:
    status: str  # ok | none | error
    total: int | None = None
    active: int | None = None
    deferred: int | None = None
    hold: int | None = None
    error: str = ""
    server: str = ""
    oldest_age: float | None = None  # seconds since the oldest message arrived
    deferred_age: float | None = None  # hours since the oldest deferred message arrived
    reasons: list[list] = field(default_factory=list)  # [[deferral reason, recipients], ...] most common first


# The queue programs and their fixed arguments: nothing from a web form reaches a command line but the
# path of one of these programs (checked by the settings form and again here).
QUEUE_PROGRAMS = {"postfix": (("postqueue",), ["-j"]), "exim": (("exim", "exim4"), ["-bpc"])}
SEARCH_PATH = "/usr/sbin:/usr/local/sbin:/sbin:/usr/bin:/usr/local/bin:/bin"


def queue_command(settings: LoadSettings) -> tuple[str, list[str]] | None:
    """(mail system, argv) for the configured mail system, or the one found (auto); None: no mail server."""
    system = settings.mail_system
    if system == LoadSettings.MailSystem.NONE:
        return None
    systems = ["postfix", "exim"] if system == LoadSettings.MailSystem.AUTO else [system]
    for name in systems:
        programs, arguments = QUEUE_PROGRAMS[name]
        binary = settings.mail_binary.strip()
        if binary and system != LoadSettings.MailSystem.AUTO:
            if os.path.isabs(binary) and os.path.basename(binary) in programs:
                return name, [os.path.normpath(binary), *arguments]
            continue  # refused by the form too: never run another program
        for program in programs:
            if found := shutil.which(program, path=f"{os.environ.get('PATH', '')}:{SEARCH_PATH}"):
                return name, [found, *arguments]
    if system != LoadSettings.MailSystem.AUTO:
        return system, [settings.mail_binary.strip() or QUEUE_PROGRAMS[system][0][0], *QUEUE_PROGRAMS[system][1]]
    return None


def normalise_reason(reason: str) -> str:
    """A deferral reason without the host and address that vary between recipients of one cause."""
    reason = re.sub(r"\S+\[[0-9A-Fa-f:.]+\](:\d+)?", "<host>", reason.strip())
    return " ".join(reason.split())[:200]


def parse_queue_output(text: str, now: float | None = None) -> QueueReading:
    """Read ``postqueue -j`` (one JSON object per message) or ``exim -bpc`` (one number)."""
    now = now or time.time()
    stripped = text.strip()
    if not stripped or stripped.lower() in {"mail queue is empty", "-- mail queue is empty"}:
        return QueueReading("ok", total=0, active=0, deferred=0, hold=0)
    if stripped.isdigit():
        return QueueReading("ok", total=int(stripped), server="exim")
    counts = {"active": 0, "deferred": 0, "hold": 0}
    total = 0
    arrivals: list[float] = []
    deferred_arrivals: list[float] = []
    reasons: Counter[str] = Counter()
    for line in stripped.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
            queue = str(message["queue_name"])
        except (ValueError, KeyError, TypeError):
            return QueueReading("error", error=f"unexpected queue output: {line[:120]}")
        total += 1
        # Messages in incoming/maildrop are about to become active; "corrupt" stays in the total only.
        key = {"incoming": "active", "maildrop": "active"}.get(queue, queue)
        if key in counts:
            counts[key] += 1
        arrival = message.get("arrival_time")
        if isinstance(arrival, int | float):
            arrivals.append(float(arrival))
            if queue == "deferred":
                deferred_arrivals.append(float(arrival))
        if queue == "deferred":
            for recipient in message.get("recipients") or []:
                if isinstance(recipient, dict) and recipient.get("delay_reason"):
                    reasons[normalise_reason(str(recipient["delay_reason"]))] += 1
    return QueueReading(
        "ok",
        total=total,
        server="postfix",
        oldest_age=max(now - min(arrivals), 0.0) if arrivals else None,
        deferred_age=round(max(now - min(deferred_arrivals), 0.0) / 3600, 2) if deferred_arrivals else None,
        reasons=[[reason, n] for reason, n in reasons.most_common(5)],
        **counts,
    )


def _first_line(text: str) -> str:
    # What a program printed is shown to IT staff only, one line, without control characters.
    line = next((line for line in text.strip().splitlines() if line.strip()), "")
    return "".join(ch if ch.isprintable() else " " for ch in line)[:200]


def read_queue(settings: LoadSettings) -> QueueReading:
    found = queue_command(settings)
    if found is None:
        return QueueReading("none")
    server, command = found
    try:
        # No shell, fixed arguments, no input, a timeout: the only thing configurable is which program.
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=QUEUE_TIMEOUT, check=False, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        return QueueReading("error", error=f"program not found: {command[0]}", server=server)
    except subprocess.TimeoutExpired:
        return QueueReading("error", error=f"{command[0]} did not answer in {QUEUE_TIMEOUT} s", server=server)
    except OSError as exc:
        return QueueReading("error", error=f"{command[0]}: {exc.strerror or exc}", server=server)
    if result.returncode != 0:
        detail = _first_line(result.stderr or result.stdout)
        return QueueReading("error", error=f"{command[0]} exited {result.returncode}: {detail}", server=server)
    reading = parse_queue_output(result.stdout)
    if reading.status == "ok":
        reading.server = server
    return reading


def mail_problems(settings: LoadSettings, queue: QueueReading, processes: list[dict], now: datetime) -> list[str]:
    """What is wrong with the mail system, in plain words anyone may read (empty: nothing found wrong).

    Checked for the mail system chosen in the settings, or in "found automatically" mode for one that
    has worked on this machine in the last week (a machine with Postfix installed but never run is not
    "down"). The process check needs no root: see ``identify``.
    """
    system = queue.server or ("" if settings.mail_system == LoadSettings.MailSystem.AUTO else settings.mail_system)
    if not system or settings.mail_system == LoadSettings.MailSystem.NONE:
        return []
    if settings.mail_system == LoadSettings.MailSystem.AUTO:
        worked = LoadSample.objects.filter(
            taken_at__gte=now - timedelta(days=7), mail_server=system, queue_status="ok"
        ).exists()
        if not worked:
            return []
    label = {"postfix": "Postfix", "exim": "Exim"}[system]
    problems = []
    if queue.status == "error":
        problems.append("the mail queue cannot be read")
    running = postfix_master_running(settings) if system == "postfix" else None
    if running is None:  # no pid file to ask: any master process of this program counts
        running = any(group["name"] == label and group.get("main") for group in processes)
    if not running:
        problems.append(f"the {label} {'master process' if system == 'postfix' else 'daemon'} is not running")
    return problems


def postfix_master_running(settings: LoadSettings) -> bool | None:
    """Is this Postfix's master alive, by its own pid file (``<queue_directory>/pid/master.pid``, readable by
    any user)? None when that cannot be told. As root, ``postqueue`` reads the queue files directly when
    Postfix is down (exit 0, a warning), so the queue alone does not show it."""
    found = queue_command(settings)
    if found is None or found[0] != "postfix":
        return None
    postconf = os.path.join(os.path.dirname(found[1][0]), "postconf")
    try:
        result = subprocess.run(
            [postconf, "-h", "queue_directory"], capture_output=True, text=True, timeout=QUEUE_TIMEOUT,
            check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        queue_directory = result.stdout.strip() if result.returncode == 0 else ""
        with open(os.path.join(queue_directory or "/var/spool/postfix", "pid", "master.pid"), encoding="ascii") as pid:
            master = psutil.Process(int(pid.read().split()[0]))
            return master.name() == "master"
    except FileNotFoundError:
        return False if queue_directory else None  # no pid file: Postfix was stopped (it removes it)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired, psutil.AccessDenied):
        return None
