"""Server load against a real Debian Postfix: a non-root sampler counts every Postfix process, and Postfix
stopped during sampling turns the status critical and back (issue 13).

Postfix is started here from a temporary folder on a free high port, as root (its master starts as root
and runs its children as ``postfix``). This is the minimal start-up these tests need: a shared harness
(``tests/mailserver.py``) is being written on another branch and can replace ``running_postfix`` later.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from django.utils import timezone

from monitoring.serverload import mailsystem
from monitoring.serverload.alerts import status_line
from monitoring.serverload.models import LoadSettings, LoadState, MailSystemAlert
from monitoring.serverload.sampling import take_sample
from tests.conftest import deliver_outbox
from tests.services import ROOT, free_port, service_missing

pytestmark = pytest.mark.integration

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class Postfix:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = folder / "etc"

    def run(self, action: str) -> None:
        subprocess.run(["postfix", "-c", str(self.config), action], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self.run("start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.tree():
            time.sleep(0.2)
        assert self.tree(), (self.folder / "maillog").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        master = self.master_pid()
        self.run("stop")
        deadline = time.monotonic() + 30
        while master and psutil.pid_exists(master) and time.monotonic() < deadline:
            time.sleep(0.2)

    def master_pid(self) -> int | None:
        try:
            pid = int((self.folder / "spool" / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if psutil.pid_exists(pid) else None

    def tree(self) -> set[int]:
        """This instance's processes, as root sees them: the master and its children."""
        pid = self.master_pid()
        if pid is None:
            return set()
        master = psutil.Process(pid)
        return {pid, *(child.pid for child in master.children(recursive=True))}


@pytest.fixture
def running_postfix():
    if not shutil.which("postfix") or not os.path.exists("/usr/lib/postfix/sbin/master"):
        service_missing("Debian's postfix is not installed (apt-get install postfix)")
    if os.geteuid() != 0:
        service_missing("starting a real Postfix needs root (its master starts as root)")
    # Not under pytest's 0700 tmp_path: Postfix's children run as "postfix" and must reach the spool.
    folder = Path(tempfile.mkdtemp(prefix="portal-postfix-", dir="/tmp"))
    folder.chmod(0o755)
    for name in ("etc", "spool", "data"):
        (folder / name).mkdir()
    (folder / "spool").chmod(0o755)
    shutil.chown(folder / "data", "postfix")
    (folder / "etc" / "main.cf").write_text(
        "\n".join(
            [
                "compatibility_level = 3.6",
                f"queue_directory = {folder}/spool",
                f"data_directory = {folder}/data",
                "command_directory = /usr/sbin",
                "daemon_directory = /usr/lib/postfix/sbin",
                "shlib_directory = /usr/lib/postfix",
                "meta_directory = /etc/postfix",
                "mail_owner = postfix",
                "setgid_group = postdrop",
                "inet_interfaces = 127.0.0.1",
                "inet_protocols = ipv4",
                "myhostname = mail.portal-test.example",
                "mydestination =",
                f"maillog_file = {folder}/maillog",
                f"maillog_file_prefixes = {folder}",
                f"alternate_config_directories = {folder}/etc",
                "",
            ]
        )
    )
    (folder / "etc" / "master.cf").write_text(MASTER_CF.format(port=free_port()))
    postfix = Postfix(folder)
    postfix.start()
    try:
        yield postfix
    finally:
        if postfix.master_pid():
            postfix.stop()
        shutil.rmtree(folder, ignore_errors=True)


SAMPLER_AS_NOBODY = """
import json, django
django.setup()
from monitoring.serverload.models import LoadSettings
from monitoring.serverload.sampling import mail_processes, read_counters
from tests.conftest import deliver_outbox
counters = read_counters(LoadSettings())  # the sampler's own reading; no database needed for it
print(json.dumps({
    "uid": __import__("os").geteuid(),
    "labels": {pid: p["label"] for pid, p in counters["processes"].items()},
    "exe_known": [p.pid for p in mail_processes() if p.exe],
}))
"""


def test_a_non_root_worker_counts_every_postfix_process(running_postfix, tmp_path):
    # Issue 13: as a non-root worker 1 of Postfix's 14 processes was counted, because exe() is refused.
    var = Path(tempfile.mkdtemp(prefix="portal-nobody-", dir="/tmp"))
    var.chmod(0o777)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # the sampler's reading needs none
    env.update({"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT), "PORTAL_VAR_DIR": str(var)})
    try:
        result = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", SAMPLER_AS_NOBODY],
            cwd="/tmp", env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        shutil.rmtree(var, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    tree = running_postfix.tree()
    assert seen["uid"] != 0
    assert not set(seen["exe_known"]) & tree  # exe() was refused for every Postfix process: the real case
    postfix_pids = {int(pid) for pid, label in seen["labels"].items() if label == "Postfix"}
    assert len(tree) >= 3  # master, pickup, qmgr at least
    assert postfix_pids & tree == tree  # every process of this Postfix is counted, none missed


def _sample():
    """A stored sample of the machine as it is now (the first reading after a reset is only a baseline)."""
    LoadState.objects.filter(pk=1).update(previous={})
    take_sample(timezone.now())
    time.sleep(1.1)
    return take_sample(timezone.now())


def test_postfix_stopped_turns_the_status_critical_and_back(running_postfix, monkeypatch, db, it_staff, smtp_server):
    monkeypatch.setenv("MAIL_CONFIG", str(running_postfix.config))  # postqueue reads this instance
    LoadSettings.objects.update_or_create(
        pk=1, defaults={"mail_system": "postfix", "mail_binary": shutil.which("postqueue") or "/usr/sbin/postqueue"}
    )
    sample = _sample()
    now = sample.taken_at
    assert (sample.queue_status, sample.mail_problems) == ("ok", [])
    mailsystem.evaluate(sample, now)
    assert status_line().status != "critical"

    running_postfix.stop()
    sample = _sample()
    now = sample.taken_at
    # As root, postqueue reads a stopped Postfix's queue files directly (exit 0): the master is what is gone.
    assert "the Postfix master process is not running" in sample.mail_problems
    assert mailsystem.evaluate(sample, now) == {"mail_system": "raised"}
    line = status_line()
    assert line.status == "critical" and line.text.startswith("Mail system down since")
    assert "postqueue" not in line.text  # executives read this line: a status, never command output
    assert deliver_outbox() == 1
    assert "[CRITICAL] Mail system down" in smtp_server.messages[-1].subject

    running_postfix.start()
    sample = _sample()
    now = sample.taken_at
    assert (sample.queue_status, sample.mail_problems) == ("ok", [])
    assert mailsystem.evaluate(sample, now) == {"mail_system": "cleared"}
    assert status_line().status != "critical"
    assert MailSystemAlert.objects.get().clear_reason == "back to normal"
    assert deliver_outbox() == 1
    assert "[CLEARED] Mail system" in smtp_server.messages[-1].subject
