"""Sample the mail server's load with psutil and store it as a ``LoadSample``.

CPU percentages and I/O rates are differences between two readings. psutil
keeps its previous reading inside the process, but samples are taken by
whichever Celery worker process picks up the tick, so the previous counters are
stored in ``LoadState`` instead. The first reading (nothing to compare with, or
a stale / pre-reboot one) is stored as the new baseline and discarded.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import psutil
from django.db import transaction
from django.utils import timezone

from monitoring.serverload.mailqueue import mail_problems, read_queue
from monitoring.serverload.models import MAIL_PORTS, LoadSample, LoadSettings, LoadState

log = logging.getLogger(__name__)

# Interfaces that never carry the internet line themselves (loopback, containers, shaping mirrors).
VIRTUAL_INTERFACE_PREFIXES = ("lo", "docker", "veth", "br-", "virbr", "ifb", "cni", "flannel", "cali", "vnet")

# Daemons recognised by their process name alone.
MAIL_DAEMONS = {
    "dovecot": "Dovecot",
    "exim": "Exim",
    "exim4": "Exim",
    "sendmail": "Sendmail",
    "rspamd": "Rspamd",
    "spamd": "SpamAssassin",
    "amavisd": "Amavis",
    "amavisd-new": "Amavis",
    "clamd": "ClamAV",
    "freshclam": "ClamAV",
    "opendkim": "OpenDKIM",
    "opendmarc": "OpenDMARC",
    "postgrey": "Postgrey",
}
# Short names used by several programs (Postfix "master", Dovecot "auth"): decided by the executable's folder.
AMBIGUOUS_NAMES = {
    "master", "qmgr", "smtpd", "pickup", "cleanup", "smtp", "anvil", "tlsmgr", "trivial-rewrite", "bounce",
    "local", "lmtp", "showq", "proxymap", "verify", "scache", "postscreen", "dnsblog", "tlsproxy", "virtual",
    "imap", "imap-login", "pop3", "pop3-login", "auth", "config", "log", "stats", "managesieve",
    "managesieve-login", "submission", "submission-login", "indexer", "indexer-worker", "dict", "quota-status",
    "postlogd", "discard", "error", "flush", "pipe", "spawn", "qmqpd", "oqmgr", "nqmgr", "imap-hibernate",
    "replicator", "aggregator", "director", "doveadm-server",
}  # fmt: skip
EXE_FOLDERS = {"/postfix/": "Postfix", "/dovecot/": "Dovecot"}

# A previous reading older than this says nothing about "now": discard and start again.
MAX_GAP = timedelta(minutes=15)


# --- Reading psutil ---------------------------------------------------------------


def _busy_total(times: object) -> tuple[float, float]:
    # The same arithmetic as psutil.cpu_percent: guest time is already counted in user time on Linux.
    total = sum(times)  # type: ignore[arg-type]
    if sys.platform.startswith("linux"):
        total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)  # type: ignore[attr-defined]
    return total - idle, total


def line_interfaces(names: list[str], configured: list[str]) -> list[str]:
    """The interfaces whose traffic is the internet line's: the configured ones, else all real ones."""
    if configured:
        return [name for name in names if name in configured]
    return [name for name in names if not name.startswith(VIRTUAL_INTERFACE_PREFIXES)]


def mail_daemon(name: str, exe: str | None, cmdline: str = "") -> str | None:
    """The mail program a process belongs to by its own name, executable or command line, or None.

    ``exe`` is refused for other users' processes unless the worker is root; the command line is not
    (``/usr/lib/postfix/sbin/master -w``, ``dovecot/auth``), and a child with neither (Postfix's
    ``qmgr -l -t unix -u``) is decided by its parent in ``identify``.
    """
    if name in MAIL_DAEMONS:
        return MAIL_DAEMONS[name]
    if name in AMBIGUOUS_NAMES:
        for text in (exe or "", cmdline):
            for folder, label in EXE_FOLDERS.items():
                if folder in text:
                    return label
        if cmdline.startswith("dovecot/"):
            return "Dovecot"
    return None


# The process that runs the others: when it is gone, the mail system is down.
MAIN_PROCESS = {"Postfix": "master", "Dovecot": "dovecot", "Exim": "exim4"}


@dataclass
class ProcessInfo:
    pid: int
    name: str
    ppid: int = 0
    cmdline: str = ""
    exe: str | None = None


def identify(processes: list[ProcessInfo]) -> dict[int, str]:
    """pid -> mail program, by name, executable and command line, then by parent: a child of Postfix's
    master or of Dovecot with a short name (``qmgr``, ``auth``) belongs to its parent's program."""
    labels = {p.pid: label for p in processes if (label := mail_daemon(p.name, p.exe, p.cmdline))}
    for process in processes:
        if process.pid not in labels and process.name in AMBIGUOUS_NAMES:
            parent = labels.get(process.ppid)
            if parent in EXE_FOLDERS.values():
                labels[process.pid] = parent
    return labels


def _process_info(pid: int, name: str) -> ProcessInfo:
    """Parent, command line and (when allowed) executable of a process, from /proc: all but the executable
    are readable for every user's processes."""
    info = ProcessInfo(pid, name)
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            info.ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            info.cmdline = cmdline.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except (OSError, ValueError, IndexError):
        pass  # the process ended meanwhile: its name is all we know
    try:
        info.exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        info.exe = None  # another user's process and the worker is not root: not needed
    return info


def mail_processes() -> list[ProcessInfo]:
    """The processes whose name may belong to a mail program, with what ``identify`` needs."""
    if not sys.platform.startswith("linux"):
        found = []
        for p in psutil.process_iter(["name", "ppid", "cmdline"]):
            if p.info["name"] in WATCHED_NAMES.values():
                try:
                    exe = p.exe()
                except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                    exe = None
                cmdline = " ".join(p.info["cmdline"] or [])
                found.append(ProcessInfo(p.pid, p.info["name"], p.info["ppid"] or 0, cmdline, exe))
        return found
    return [
        _process_info(pid, WATCHED_NAMES[short[:15]]) for pid, short in process_names() if short[:15] in WATCHED_NAMES
    ]


# Linux keeps 15 characters of a process name (/proc/<pid>/comm): look names up by that prefix.
WATCHED_NAMES = {name[:15]: name for name in (*MAIL_DAEMONS, *AMBIGUOUS_NAMES)}


def process_names() -> list[tuple[int, str]]:
    """(pid, short name) of every process. On Linux from /proc/<pid>/comm: cheaper than psutil.process_iter,
    which builds a Process (and reads its stat file) for each; psutil elsewhere."""
    if not sys.platform.startswith("linux"):
        return [(p.pid, p.info["name"] or "") for p in psutil.process_iter(["name"])]
    names = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/comm", encoding="utf-8", errors="replace") as comm:
                    names.append((int(entry.name), comm.read().rstrip("\n")))
            except OSError:
                continue  # the process ended meanwhile
    return names


def read_counters(settings: LoadSettings) -> dict:
    """Everything cumulative, as plain JSON: what the next reading subtracts from."""
    cores = [list(_busy_total(t)) for t in psutil.cpu_times(percpu=True)]
    nics = psutil.net_io_counters(pernic=True)
    disk = psutil.disk_io_counters(perdisk=False)
    processes: dict[str, dict] = {}
    candidates = mail_processes()
    names = {p.pid: p.name for p in candidates}
    for pid, label in identify(candidates).items():
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():  # /proc/<pid>/stat and statm: readable for other users' processes too
                cpu = proc.cpu_times()
                processes[str(pid)] = {
                    "label": label,
                    "main": names[pid] == MAIN_PROCESS.get(label),
                    "created": proc.create_time(),
                    "cpu": cpu.user + cpu.system,
                    "rss": proc.memory_info().rss,
                }
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return {
        "time": time.time(),
        "pid": os.getpid(),  # which process read them (for the operator; rates never depend on it)
        "boot": psutil.boot_time(),
        "cores": cores,
        "net": {
            name: [c.bytes_recv, c.bytes_sent]
            for name, c in nics.items()
            if name in line_interfaces(list(nics), settings.interface_list())
        },
        "disk": [disk.read_bytes, disk.write_bytes] if disk else None,
        "processes": processes,
    }


def _rate(new: float, old: float, seconds: float) -> float:
    # A counter that went backwards was reset (interface restarted): no rate this time rather than a bogus one.
    return max(new - old, 0) / seconds if new >= old else 0.0


def previous_usable(previous: dict, current: dict) -> bool:
    if not previous or previous.get("boot") != current["boot"]:
        return False
    gap = current["time"] - previous.get("time", 0)
    return 0 < gap <= MAX_GAP.total_seconds() and len(previous.get("cores", [])) == len(current["cores"])


def cpu_figures(previous: dict, current: dict) -> tuple[float, list[float]]:
    per_core = []
    busy_sum = total_sum = 0.0
    for (busy, total), (old_busy, old_total) in zip(current["cores"], previous["cores"], strict=True):
        d_busy, d_total = max(busy - old_busy, 0.0), max(total - old_total, 0.0)
        busy_sum += d_busy
        total_sum += d_total
        per_core.append(round(min(100.0, 100 * d_busy / d_total), 1) if d_total else 0.0)
    overall = round(min(100.0, 100 * busy_sum / total_sum), 1) if total_sum else 0.0
    return overall, per_core


def network_figures(previous: dict, current: dict, seconds: float) -> list[dict]:
    rows = []
    for name, (recv, sent) in sorted(current["net"].items()):
        old = previous.get("net", {}).get(name)
        if old is None:
            continue
        rows.append({"name": name, "in": _rate(recv, old[0], seconds) * 8, "out": _rate(sent, old[1], seconds) * 8})
    return rows


def process_figures(previous: dict, current: dict, seconds: float, cores: int) -> list[dict]:
    """Mail daemons grouped by program: how many processes, share of the machine's CPU, memory."""
    total_memory = psutil.virtual_memory().total
    old = previous.get("processes", {})
    groups: dict[str, dict] = {}
    for pid, proc in current["processes"].items():
        before = old.get(pid)
        # A process started since the last reading used all of its CPU time in this interval.
        base = before["cpu"] if before and before["created"] == proc["created"] else 0.0
        group = groups.setdefault(
            proc["label"], {"name": proc["label"], "count": 0, "cpu": 0.0, "rss": 0, "main": False}
        )
        group["count"] += 1
        group["main"] = group["main"] or proc.get("main", False)
        group["cpu"] += max(proc["cpu"] - base, 0.0) / seconds / cores * 100
        group["rss"] += proc["rss"]
    for group in groups.values():
        group["cpu"] = round(group["cpu"], 1)
        group["memory"] = round(100 * group["rss"] / total_memory, 1) if total_memory else 0.0
    return sorted(groups.values(), key=lambda g: g["name"])


def disk_figures(mounts: list[str]) -> list[dict]:
    rows = []
    for mount in mounts:
        try:
            usage = psutil.disk_usage(mount)
        except OSError:
            continue  # a watched folder that does not exist on this server
        rows.append(
            {"mount": mount, "percent": usage.percent, "used": usage.used, "total": usage.total, "free": usage.free}
        )
    return rows


# /proc/net/tcp state codes, named as psutil names them.
TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
    "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
    "0C": "SYN_RECV",
}  # fmt: skip


_HEX_PORTS = "|".join(f"{port:04X}" for port in MAIL_PORTS)
# A line of /proc/net/tcp{,6}: "  12: 0100007F:024B 0100007F:A1B2 01 ..." (local, remote, state, in hex).
_LOCAL_MAIL_PORT = re.compile(rf"^\s*\d+: [0-9A-F]+:({_HEX_PORTS}) [0-9A-F]+:([0-9A-F]{{4}}) ([0-9A-F]{{2}}) ", re.M)
_REMOTE_SMTP = re.compile(r"^\s*\d+: [0-9A-F]+:([0-9A-F]{4}) ([0-9A-F]+):(0019) ([0-9A-F]{2}) ", re.M)


def _loopback_hex(address: str) -> bool:
    """A /proc/net/tcp{,6} remote address (hex, 32-bit words in host order, little-endian here) in
    127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104: the portal or a local program talking to itself."""
    if len(address) == 8:
        return address[6:8] == "7F"
    if len(address) == 32:
        return address == "00000000000000000000000001000000" or (
            address[:16] == "0" * 16 and address[16:24] == "FFFF0000" and address[30:32] == "7F"
        )
    return False


def _tcp_from_proc() -> list[tuple[int, int, str]] | None:
    """(local port, remote port, state) of the TCP sockets on mail ports, from /proc/net/tcp and tcp6.

    psutil.net_connections() also maps every socket to its process by scanning
    /proc/*/fd, which costs most of a sample's CPU time; the counts by port and
    state need none of that. A regular expression picks the few mail lines out
    of tables that can hold thousands of sockets (TIME_WAIT after a spam run).
    """
    found: dict[tuple, tuple[int, int, str]] = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name, encoding="ascii") as table:
                text = table.read()
        except FileNotFoundError:
            if name.endswith("tcp6"):
                continue  # IPv6 disabled
            return None
        except OSError:
            return None
        for match in _LOCAL_MAIL_PORT.finditer(text):
            local, remote, state = match.groups()
            found[(name, match.start())] = (int(local, 16), int(remote, 16), TCP_STATES.get(state, state))
        for match in _REMOTE_SMTP.finditer(text):
            local, address, remote, state = match.groups()
            if not _loopback_hex(address):  # the portal's own mail to the local server is not "outgoing"
                found[(name, match.start())] = (int(local, 16), int(remote, 16), TCP_STATES.get(state, state))
    return list(found.values())


def _tcp_from_psutil() -> list[tuple[int, int, str]]:
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return []
    rows = []
    for c in connections:
        local, remote = c.laddr.port if c.laddr else 0, c.raddr.port if c.raddr else 0
        if remote == 25 and local not in MAIL_PORTS and _is_loopback(c.raddr.ip):
            continue  # the portal's own mail to the local server is not "outgoing"
        rows.append((local, remote, c.status))
    return rows


def _is_loopback(address: str) -> bool:
    import ipaddress

    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def connection_figures() -> tuple[int, dict[str, dict[str, int]]]:
    """TCP connections on the mail ports by state (``25-out``: connections this server opened to port 25)."""
    by_port: dict[str, dict[str, int]] = {}
    total = 0
    sockets = _tcp_from_proc()
    for local, remote, state in _tcp_from_psutil() if sockets is None else sockets:
        if local in MAIL_PORTS:
            key = str(local)
        elif remote == 25:
            key = "25-out"
        else:
            continue
        states = by_port.setdefault(key, {})
        states[state] = states.get(state, 0) + 1
        if state != "LISTEN":
            total += 1
    return total, by_port


# --- One sample --------------------------------------------------------------------------


def _percent_of(rate_bits: float, capacity_mbps: float | None) -> float | None:
    if not capacity_mbps:
        return None
    return round(100 * rate_bits / (capacity_mbps * 1_000_000), 1)


def take_sample(now: datetime | None = None) -> LoadSample | None:
    """Read the counters, store them, and store a sample unless this is the first (meaningless) reading."""
    now = now or timezone.now()
    settings = LoadSettings.load()
    state = LoadState.load()
    current = read_counters(settings)
    previous = state.previous
    state.previous, state.previous_at = current, now
    if not previous_usable(previous, current):
        state.save(update_fields=["previous", "previous_at"])
        log.info("load sampler: first reading stored as the baseline; the next one is kept")
        return None

    seconds = current["time"] - previous["time"]
    cores = len(current["cores"]) or 1
    cpu, per_core = cpu_figures(previous, current)
    load_average = [round(value, 2) for value in os.getloadavg()]
    disks = disk_figures(settings.mount_list())
    interfaces = network_figures(previous, current, seconds)
    net_in = sum(row["in"] for row in interfaces)
    net_out = sum(row["out"] for row in interfaces)
    disk_io = current["disk"], previous.get("disk")
    connections, by_port = connection_figures()
    processes = process_figures(previous, current, seconds, cores)
    queue = read_queue(settings)
    mail_server = queue.server if queue.status == "ok" else ""
    if not mail_server and any(p["name"] == "Postfix" and p.get("main") for p in processes):
        mail_server = "postfix"
    if not mail_server and any(p["name"] == "Exim" for p in processes):
        mail_server = "exim"
    problems = mail_problems(settings, queue, processes, now)

    with transaction.atomic():
        sample = LoadSample.objects.create(
            taken_at=now,
            cpu=cpu,
            cpu_per_core=per_core,
            load=round(100 * load_average[0] / cores, 1),
            load_average=load_average,
            cores=cores,
            memory=psutil.virtual_memory().percent,
            swap=psutil.swap_memory().percent,
            disk=max((row["percent"] for row in disks), default=0.0),
            disks=disks,
            disk_read=_rate(disk_io[0][0], disk_io[1][0], seconds) if disk_io[0] and disk_io[1] else 0.0,
            disk_write=_rate(disk_io[0][1], disk_io[1][1], seconds) if disk_io[0] and disk_io[1] else 0.0,
            net_in=net_in,
            net_out=net_out,
            net_in_pct=_percent_of(net_in, settings.line_download_mbps),
            net_out_pct=_percent_of(net_out, settings.line_upload_mbps),
            interfaces=interfaces,
            connections=connections,
            connections_by_port=by_port,
            processes=processes,
            mail_server=mail_server,
            queue_status=queue.status,
            queue_error=queue.error[:300],
            queue=queue.total,
            queue_active=queue.active,
            queue_deferred=queue.deferred,
            queue_hold=queue.hold,
            queue_oldest_age=queue.oldest_age,
            deferred_age=queue.deferred_age,
            deferral_reasons=queue.reasons,
            mail_problems=problems,
        )
        state.save(update_fields=["previous", "previous_at"])
    return sample


def claim_sample(now: datetime | None = None) -> bool:
    """Claim the due sample with a conditional update: two ticks at once never both sample."""
    now = now or timezone.now()
    settings = LoadSettings.load()
    if settings.next_sample_at > now:
        return False
    interval = timedelta(seconds=settings.sample_interval_seconds)
    following = settings.next_sample_at + interval
    if following <= now:  # the worker was down: continue from now instead of catching up
        following = now + interval
    claimed = LoadSettings.objects.filter(pk=settings.pk, next_sample_at=settings.next_sample_at).update(
        next_sample_at=following
    )
    return claimed == 1


def tick(now: datetime | None = None) -> dict:
    """The beat entry "load-tick": sample when due, check alerts, roll up, send mail; run due drift checks.

    Everything but the drift checks happens only in the tick that claimed the
    sample, so overlapping ticks never roll up or send the same email twice.
    Drift checks are claimed one by one and run on every tick, so the
    "I have just patched" button is answered within seconds; their failed
    emails are retried by the claiming tick only.
    """
    from monitoring.serverload import alerts, drift, mailsystem, rollups

    now = now or timezone.now()
    done: dict = {}
    claimed = claim_sample(now)
    if claimed:
        try:
            sample = take_sample(now)
        except Exception as exc:  # one bad reading must not stop rollups, drift checks or mail
            log.exception("load sample failed")
            LoadState.store(last_error=f"{exc.__class__.__name__}: {exc}")
            sample = None
        else:
            LoadState.store(last_error="")
        if sample is not None:
            done["alerts"] = alerts.evaluate(sample)
        done["mail_system"] = mailsystem.evaluate(sample, now)
        done["maintenance"] = rollups.maintain(now)
    done["drift"] = len(drift.run_due(now))
    return done
