"""The Postfix lines that put the sending guard in the mail path (``manage.py mail_policy_config``).

Three places, each with Postfix 3.0+'s per-service settings (``check_policy_service { ... }``):

- ``main.cf``: ``portal_sending_guard``, a restriction list the submission services use twice;
  ``smtpd_relay_restrictions`` with the service asked (``policy_context=relay``) only for what would be
  refused as relaying: an unauthenticated client outside ``mynetworks`` and not for our own domains;
- ``master.cf``: on each submission service (where people log in with SMTP AUTH),
  ``smtpd_recipient_restrictions`` (RCPT) and ``smtpd_end_of_data_restrictions`` (END-OF-MESSAGE).

``default_action`` is what Postfix does when the service cannot answer (down, stuck past ``timeout``):
``DUNNO``, mail flows unchecked (fail open, the default here) or ``DEFER``, mail waits (fail closed).
docs/sending.md explains the choice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LISTEN = re.compile(r"^(/[A-Za-z0-9._/-]+|[A-Za-z0-9.-]+:[0-9]{1,5}|\[[0-9A-Fa-f:.]+\]:[0-9]{1,5})$")
_SERVICE = re.compile(r"^[A-Za-z0-9._:-]+$")
FAIL_OPEN, FAIL_CLOSED = "open", "closed"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Options:
    listen: str = "127.0.0.1:10040"
    timeout: int = 5  # seconds Postfix waits for an answer before default_action
    fail: str = FAIL_OPEN
    submission: str = "submission"
    submissions: str = "submissions"
    relay: bool = True

    def check(self) -> None:
        if not _LISTEN.match(self.listen):
            raise ConfigError("listen: host:port (127.0.0.1:10040) or an absolute path of a Unix socket")
        if not 1 <= self.timeout <= 100:
            raise ConfigError("timeout: 1 to 100 seconds")
        if self.fail not in (FAIL_OPEN, FAIL_CLOSED):
            raise ConfigError("fail: open (mail flows while the service is down) or closed (mail waits)")
        for name in ("submission", "submissions"):
            value = getattr(self, name)
            if value and not _SERVICE.match(value):
                raise ConfigError(f"{name}: a master.cf service name such as {name} or 127.0.0.1:587")

    @property
    def endpoint(self) -> str:
        return f"unix:{self.listen}" if self.listen.startswith("/") else f"inet:{self.listen}"

    @property
    def default_action(self) -> str:
        return "DUNNO" if self.fail == FAIL_OPEN else "DEFER"

    def check_policy_service(self, context: str = "") -> str:
        # Relay attempts are refused by reject_unauth_destination after the service whatever it answers:
        # DUNNO there whichever way the guard fails.
        default_action = "DUNNO" if context == "relay" else self.default_action
        settings = [self.endpoint, f"default_action={default_action}", f"timeout={self.timeout}s"]
        if context:
            settings.append(f"policy_context={context}")
        return "check_policy_service { " + ", ".join(settings) + " }"


def main_cf(options: Options) -> str:
    fail_words = (
        "mail flows unchecked (fail open)"
        if options.fail == FAIL_OPEN
        else "mail waits in the senders' queues (fail closed)"
    )
    lines = [
        "# The sending guard (manage.py mail_policy_config; docs/sending.md). Add to /etc/postfix/main.cf.",
        f"# When the policy service cannot answer within {options.timeout} s, Postfix applies default_action:",
        f"# {options.default_action}, so {fail_words}; the portal reports the service down either way.",
        "# Used by the submission services (master.cf): every recipient and the end of every message of a",
        "# person logged in with SMTP AUTH.",
        f"portal_sending_guard = {options.check_policy_service()}",
    ]
    if options.relay:
        lines += [
            "# Relay attempts: the service is asked only about what is refused as relaying anyway (a client",
            "# outside mynetworks, not logged in, for a domain that is not ours); it counts them per client",
            "# address and answers DUNNO, and reject_unauth_destination refuses them, also while it is down.",
            "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, permit_auth_destination,",
            f"    {options.check_policy_service('relay')},",
            "    reject_unauth_destination",
        ]
    return "\n".join(lines) + "\n"


def master_cf(options: Options) -> str:
    lines = [
        "# The sending guard (manage.py mail_policy_config; docs/sending.md). In /etc/postfix/master.cf, add",
        "# these two lines under each submission service, after its other -o lines:",
    ]
    services = [name for name in (options.submission, options.submissions) if name]
    lines += [
        "  -o smtpd_recipient_restrictions=$portal_sending_guard",
        "  -o smtpd_end_of_data_restrictions=$portal_sending_guard",
        "# or let postconf add them:",
    ]
    for name in services:
        for parameter in ("smtpd_recipient_restrictions", "smtpd_end_of_data_restrictions"):
            lines.append(f"#   postconf -P '{name}/inet/{parameter}=$portal_sending_guard'")
    lines.append("# then: postfix reload")
    return "\n".join(lines) + "\n"


def master_settings(options: Options) -> dict[str, str]:
    """``service/inet/parameter`` -> value, as ``postconf -P`` takes them (the tests apply these)."""
    return {
        f"{name}/inet/{parameter}": "$portal_sending_guard"
        for name in (options.submission, options.submissions)
        if name
        for parameter in ("smtpd_recipient_restrictions", "smtpd_end_of_data_restrictions")
    }


def render(options: Options) -> dict[str, str]:
    options.check()
    return {"postfix/main.cf.sending": main_cf(options), "postfix/master.cf.sending": master_cf(options)}
