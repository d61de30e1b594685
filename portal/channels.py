"""Alert channels through Apprise (ntfy, Teams, Slack, Telegram, Matrix, Gotify, webhooks, SMS services).

A channel's URL holds its tokens, so nothing here lets it reach a page, a log or the audit log:
``mask_url`` is what pages show; Apprise and urllib3 print URLs, paths and ntfy topics in their log
records, so while a URL is in use ``RedactChannelSecrets`` (a filter on those loggers, see ``LOGGING``)
removes every part of it from each record before any handler sees it, and Apprise's own logger does not
reach the portal's console at all; what Apprise says about a failure is stored only after ``redact``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
HOSTNAME = re.compile(r"^(?=.{1,253}$)(localhost|[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+|\[[0-9a-f:.]+\])$", re.IGNORECASE)
SEVERITY_TYPES = {"warning": "warning", "critical": "failure", "info": "info"}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str


def _apprise():
    import apprise  # imported on use: web processes that never send load it only for the form check

    return apprise


def mask_url(url: str) -> str:
    """The scheme, and the host when it is a host name or address (never a token), the rest masked."""
    match = SCHEME.match(url.strip())
    if not match:
        return "…"
    scheme = match.group(1).lower()
    rest = url.strip()[match.end() :]
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    host, _, port = netloc.partition(":") if not netloc.startswith("[") else (netloc, "", "")
    shown = f"{scheme}://"
    if HOSTNAME.match(host):
        shown += host + (f":{port}" if port.isdigit() else "")
        return shown + ("/…" if rest[len(netloc) :].strip("/") or "@" in rest.split("/", 1)[0] else "")
    return shown + "…"


def secret_parts(url: str) -> list[str]:
    """Every piece of ``url`` that may be a secret (user, password, path segments, query values), longest first."""
    parts: set[str] = set()
    try:
        split = urlsplit(url.strip())
        netloc = split.netloc
    except ValueError:
        return [url]
    userinfo, _, hostport = netloc.rpartition("@")
    for piece in re.split(r"[:@]", userinfo):
        parts.add(piece)
    host = hostport.partition(":")[0] if not hostport.startswith("[") else hostport
    if not HOSTNAME.match(host):
        parts.update(re.split(r"[:]", hostport))
    for segment in (split.path + "/" + split.fragment).split("/"):
        parts.add(segment.lstrip("#@+"))
    for _key, value in parse_qsl(split.query, keep_blank_values=False):
        parts.add(value)
    decoded = {unquote(p) for p in parts}
    return sorted((p for p in parts | decoded if len(p) >= 3), key=len, reverse=True)


def redact(text: str, url: str) -> str:
    text = text.replace(url, "…")
    for part in secret_parts(url):
        text = text.replace(part, "…")
    return text


_in_use: set[str] = set()
_in_use_lock = threading.Lock()


@contextlib.contextmanager
def _secret(url: str):
    """While ``url`` is in use, every log record of Apprise and urllib3 has it redacted (any thread)."""
    with _in_use_lock:
        _in_use.add(url)
    try:
        yield
    finally:
        with _in_use_lock:
            _in_use.discard(url)


class RedactChannelSecrets(logging.Filter):
    """A logger filter (Apprise, urllib3): the parts of the channel URLs in use never reach a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        with _in_use_lock:
            urls = list(_in_use)
        if urls:
            text = record.getMessage()
            for url in urls:
                text = redact(text, url)
            record.msg, record.args = text, ()
        return True


def check_url(url: str) -> str | None:
    """None when Apprise can send to ``url``; else a message for the form (without the URL in it)."""
    if not SCHEME.match(url.strip()):
        return "Enter an Apprise URL that starts with its service, e.g. ntfy://, json://, tgram:// or msteams://."
    with _secret(url.strip()):
        plugin = _apprise().Apprise.instantiate(url.strip())
    if plugin is None:
        scheme = SCHEME.match(url.strip()).group(1).lower()
        return (
            f"Apprise cannot use this {scheme}:// URL: the service is unknown or a part it needs is missing "
            "or malformed. Check it against the Apprise documentation for that service."
        )
    return None


def notify(url: str, *, title: str, body: str, severity: str, timeout: float) -> Outcome:
    """Send one notification; never longer than about ``timeout`` seconds, never raises for a send error."""
    with _secret(url.strip()):
        return _notify(url.strip(), title=title, body=body, severity=severity, timeout=timeout)


def _notify(url: str, *, title: str, body: str, severity: str, timeout: float) -> Outcome:
    apprise = _apprise()
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return Outcome(False, "Apprise cannot use this channel's URL any more; edit the channel.")
    # Bound the HTTP request itself, not only the wait for it: a hanging endpoint must not keep a thread.
    plugin.socket_connect_timeout = min(plugin.socket_connect_timeout, timeout)
    plugin.socket_read_timeout = timeout
    plugin.request_rate_per_sec = 0  # Apprise's politeness pause between sends; each send is its own here
    sender = apprise.Apprise()
    sender.add(plugin)
    notify_type = SEVERITY_TYPES.get(severity, "info")
    try:
        result = sender.notify(body=body, title=title, notify_type=notify_type, timeout=timeout + 1)
    except Exception as exc:  # a plugin bug must not take the worker's task down with it
        return Outcome(False, redact(f"{exc.__class__.__name__}: {exc}", url)[:500])
    if result:
        return Outcome(True, "Delivered.")
    said = " ".join(entry.message for entry in result.logs()).strip()
    status = getattr(getattr(result, "status", None), "name", "FAILURE")
    detail = said or ("No answer in time." if status == "TIMEOUT" else "The service did not accept it.")
    return Outcome(False, redact(detail, url)[:500])
