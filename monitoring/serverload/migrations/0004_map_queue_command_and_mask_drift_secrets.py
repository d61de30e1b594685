"""Data for issue 14 ("no shell from the web") and issue 13 ("drift without leaking"), then the free-text
queue command goes.

1. ``queue_command`` (a command line the worker ran through ``shlex``) becomes the mail system chosen
   from the list: ``postqueue ...`` / ``mailq`` -> Postfix, ``exim ...`` / ``exim4 ...`` -> Exim (an
   absolute path to the program is kept as its path), blank -> found automatically. Anything else
   (``/bin/sh -c ...``, a script, another program) is NOT mapped: the mail system is set to "found
   automatically", the old text is kept in ``unmapped_queue_command`` (shown as a warning on the
   settings page until they are saved; it is never run) and printed here.
2. Stored drift content is cleaned where a secret can be detected: for files now read by checksum only
   (``sasl_passwd``, ``*.pem``, ``*.key``, ``dovecot-sql.conf.ext``, names with password/passwd/secret)
   the baseline content, the finding's new content and diff are emptied and the kind becomes
   "checksum"; for every other file the values of secret-looking settings are masked in the baseline,
   the finding's content and its diff. The code is a frozen copy (migrations never import live code).
3. A watched-file list left at the old default becomes the Debian starter list.
"""

from __future__ import annotations

import os
import re
import shlex
from fnmatch import fnmatch

from django.db import migrations

POSTFIX_PROGRAMS = {"postqueue", "mailq"}
EXIM_PROGRAMS = {"exim", "exim4"}
SECRET_NAMES = ("sasl_passwd", "*.pem", "*.key", "dovecot-sql.conf.ext", "*password*", "*passwd*", "*secret*")
MASK = "********"
_SETTING = re.compile(r"^(?P<lead>[ +\-]?\s*)(?P<name>[A-Za-z0-9_.\-]+)(?P<sep>\s*[=:]\s*)(?P<value>\S.*)$")
_SECRET_NAME = re.compile(r"pass(?:word|wd)?|secret|key", re.I)
_NOT_SECRET_NAME = re.compile(r"(_file|_maps|_path|_dir|_type|_length|_bits|_size|_mechanisms)$", re.I)
OLD_DEFAULT = "\n".join(
    [
        "/etc/postfix/main.cf",
        "/etc/postfix/master.cf",
        "/etc/dovecot/dovecot.conf",
        "/etc/spamassassin/local.cf",
        "/etc/rspamd/local.d/*.conf",
        "/etc/mailname",
    ]
)
NEW_DEFAULT = "\n".join(
    [
        "/etc/postfix/*.cf",
        "/etc/dovecot/dovecot.conf",
        "/etc/dovecot/conf.d/*.conf",
        "/etc/spamassassin/local.cf",
        "/etc/rspamd/local.d/*",
        "/etc/mailname",
    ]
)


def map_command(command: str) -> tuple[str, str] | None:
    """(mail_system, mail_binary) for an old queue command, or None when it cannot be mapped safely."""
    if not command.strip():
        return "auto", ""
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    program = os.path.basename(argv[0])
    binary = argv[0] if os.path.isabs(argv[0]) else ""
    if program in POSTFIX_PROGRAMS:
        # mailq prints text, not JSON: only postqueue's path is kept (found automatically otherwise).
        return "postfix", binary if program == "postqueue" else ""
    if program in EXIM_PROGRAMS:
        return "exim", binary
    return None


def map_queue_commands(apps, schema_editor) -> None:
    LoadSettings = apps.get_model("serverload", "LoadSettings")
    for row in LoadSettings.objects.all():
        mapped = map_command(row.queue_command)
        if mapped is None:
            row.mail_system, row.mail_binary, row.unmapped_queue_command = "auto", "", row.queue_command[:300]
            print(
                f"\n  serverload: the mail queue command {row.queue_command!r} could not be mapped to Postfix or"
                " Exim; the mail system is now 'found automatically'. Check Server load > Settings."
            )
        else:
            row.mail_system, row.mail_binary = mapped
        if row.watched_files.strip() == OLD_DEFAULT:
            row.watched_files = NEW_DEFAULT
        row.save(update_fields=["mail_system", "mail_binary", "unmapped_queue_command", "watched_files"])


def mask_line(line: str) -> str:
    match = _SETTING.match(line)
    if not match or not _SECRET_NAME.search(match["name"]) or _NOT_SECRET_NAME.search(match["name"]):
        return line
    value = match["value"].strip().strip('"')
    if value.startswith(("/", "<", "$")) or re.match(r"^[a-z-]+:/", value):
        return line
    return f"{match['lead']}{match['name']}{match['sep']}{MASK}"


def mask(text: str) -> str:
    return "".join(
        mask_line(line.rstrip("\n")) + ("\n" if line.endswith("\n") else "") for line in text.splitlines(True)
    )


def is_secret_file(path: str) -> bool:
    name = os.path.basename(path).lower()
    return any(fnmatch(name, pattern) for pattern in SECRET_NAMES)


def mask_drift_content(apps, schema_editor) -> None:
    DriftBaseline = apps.get_model("serverload", "DriftBaseline")
    DriftFinding = apps.get_model("serverload", "DriftFinding")
    cleared = masked = 0
    for baseline in DriftBaseline.objects.exclude(content=""):
        if is_secret_file(baseline.path):
            baseline.content, baseline.kind = "", "checksum"
            cleared += 1
        elif (new := mask(baseline.content)) != baseline.content:
            baseline.content = new
            masked += 1
        else:
            continue
        baseline.save(update_fields=["content", "kind"])
    for finding in DriftFinding.objects.exclude(new_content="", diff=""):
        if is_secret_file(finding.path):
            finding.new_content, finding.diff = "", ""
            finding.new_kind = "checksum" if finding.new_kind == "text" else finding.new_kind
            cleared += 1
        else:
            content, diff = mask(finding.new_content), mask(finding.diff)
            if (content, diff) == (finding.new_content, finding.diff):
                continue
            finding.new_content, finding.diff = content, diff
            masked += 1
        finding.save(update_fields=["new_content", "diff", "new_kind"])
    if cleared or masked:
        print(
            f"\n  serverload: drift content of secret files emptied in {cleared} rows, secret values masked in {masked}"
        )


class Migration(migrations.Migration):
    dependencies = [("serverload", "0003_mail_system_and_drift_modes")]

    operations = [
        migrations.RunPython(map_queue_commands, migrations.RunPython.noop),
        migrations.RunPython(mask_drift_content, migrations.RunPython.noop),
        migrations.RemoveField(model_name="loadsettings", name="queue_command"),
    ]
