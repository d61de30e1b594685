"""One-time tokens never reach a log: invitation and password-reset links are redacted from logged paths.

The links that invitation and reset emails carry hold a token in their path
(``/accounts/invitation/<token>/``, ``/accounts/password-reset/<uid>/<token>/``). Whoever reads an access
log could otherwise use an invitation that was not accepted yet. The portal strips them from every log it
writes: Django's (``RedactTokens`` on the console handler every logger writes to) and gunicorn's access log
(``GunicornLogger``, set in the project's ``gunicorn.conf.py``, which gunicorn reads from the working
directory). nginx's access log is the operator's: ``docs/deploy.md`` gives the ``map`` and ``log_format``
that do the same there. The token pages also send ``Referrer-Policy: strict-origin``, so the next request
(a stylesheet, the page after) carries only the origin in its ``Referer`` header, not the link.
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

REDACTED = "[token]"
_TOKEN_PATH = re.compile(
    r"(?P<prefix>/accounts/invitation/)[^/?#\s\"']+"
    r"|(?P<reset>/accounts/password-reset/)(?!sent/|done/)[^/?#\s\"']+/[^/?#\s\"']+"
)


def redact(text: str) -> str:
    """``text`` with the token part of invitation and reset paths replaced by ``[token]``."""
    return _TOKEN_PATH.sub(lambda m: (m.group("prefix") or m.group("reset")) + REDACTED, text)


class RedactTokens(logging.Filter):
    """A logging filter for every log line ("Not Found: /accounts/invitation/<token>/", CSRF refusals ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class GunicornLogger(Logger):
    """gunicorn's logger with every access-log field (request line, path, query, referer) redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
