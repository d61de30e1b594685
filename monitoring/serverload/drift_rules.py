"""What configuration drift reads in a file's text: secrets to hide, and changes that open the server.

- ``mask_secrets``: the values of settings whose name looks like a secret (``password``, ``secret``,
  ``key``, ``passwd``) are replaced before anything is stored or shown; references to files
  (``/etc/ssl/private/x.key``, ``<``-includes, ``hash:/...`` maps) are kept, they are not secrets.
- ``risks``: plain sentences for changes that open the server (the paper's first fear: an open relay),
  each rule on the settings as they now read, reported only when the change brought them in.
"""

from __future__ import annotations

import ipaddress
import os
import re

MASK = "********"
# name = value (Postfix, Dovecot, SpamAssassin "name value" is not key=value and holds no secrets by name).
_SETTING = re.compile(r"^(?P<lead>[ +\-]?\s*)(?P<name>[A-Za-z0-9_.\-]+)(?P<sep>\s*[=:]\s*)(?P<value>\S.*)$")
_SECRET_NAME = re.compile(r"pass(?:word|wd)?|secret|key", re.I)
_NOT_SECRET_NAME = re.compile(r"(_file|_maps|_path|_dir|_type|_length|_bits|_size|_mechanisms)$", re.I)


def _is_reference(value: str) -> bool:
    value = value.strip().strip('"')
    return value.startswith(("/", "<", "$")) or bool(re.match(r"^[a-z-]+:/", value))


def mask_line(line: str) -> str:
    match = _SETTING.match(line)
    if not match or not _SECRET_NAME.search(match["name"]) or _NOT_SECRET_NAME.search(match["name"]):
        return line
    if _is_reference(match["value"]):
        return line
    return f"{match['lead']}{match['name']}{match['sep']}{MASK}"


def mask_secrets(text: str) -> str:
    """``text`` with secret-looking values masked (works on a file and on a unified diff of one)."""
    return "".join(
        mask_line(line.rstrip("\n")) + ("\n" if line.endswith("\n") else "") for line in text.splitlines(True)
    )


# --- Reading settings -------------------------------------------------------------------------------------


def settings_of(text: str, *, postfix: bool = False) -> dict[str, str]:
    """``name = value`` settings of a Postfix main.cf (``postfix``: a line starting with white space
    continues the previous one) or a Dovecot file (later ones win). Dovecot sections (``protocol imap {``)
    are read as if flat: the rules below ask only for settings that matter wherever they stand."""
    found: dict[str, str] = {}
    name = None
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if postfix and raw[:1] in " \t" and name:
            found[name] += " " + raw.strip()
            continue
        match = re.match(r"^\s*([A-Za-z0-9_]+)\s*=\s*(.*)$", raw)
        name = match[1].lower() if match else None
        if match:
            found[match[1].lower()] = match[2].split("#", 1)[0].strip()
    return found


def _words(value: str) -> list[str]:
    return [word for word in re.split(r"[\s,]+", value.lower()) if word]


def _is_no(value: str | None) -> bool:
    return value is not None and value.strip().lower() in {"no", "false", "0"}


# --- The rules -------------------------------------------------------------------------------------------

PROTECTS = {"reject_unauth_destination", "defer_unauth_destination"}
RELAY_DEFAULT = "permit_mynetworks permit_sasl_authenticated defer_unauth_destination"


def _wide_networks(value: str, local: list) -> list[str]:
    """mynetworks entries that reach beyond the loopback and this server's own networks."""
    wide = []
    for word in _words(value):
        if word.startswith(("/", "hash:", "cidr:", "texthash:", "lmdb:", "$")):
            continue  # a table or another setting: its entries are not read here
        try:
            network = ipaddress.ip_network(word.strip("[]").replace("]/", "/"), strict=False)
        except ValueError:
            continue
        mapped = network.network_address.ipv4_mapped if network.version == 6 else None
        if network.is_loopback or (mapped is not None and mapped.is_loopback and network.prefixlen >= 104):
            continue
        if any(network.version == n.version and network.subnet_of(n) for n in local):
            continue
        wide.append(str(network))
    return wide


def _relay_open(found: dict[str, str]) -> bool:
    """Does mail to any destination pass? Postfix applies smtpd_relay_restrictions (default: reject
    unauthorised destinations), then smtpd_recipient_restrictions; one of them must refuse relaying
    before a plain ``permit``."""

    def protects(value: str) -> bool:
        for word in _words(value):
            if word in PROTECTS:
                return True
            if word == "permit":
                return False
        return False

    relay = found.get("smtpd_relay_restrictions", RELAY_DEFAULT)
    return not protects(relay) and not protects(found.get("smtpd_recipient_restrictions", ""))


def postfix_risks(settings: dict[str, str], local: list) -> list[str]:
    risks = []
    if "mynetworks" in settings and (wide := _wide_networks(settings["mynetworks"], local)):
        risks.append(
            f"mynetworks now trusts {', '.join(wide)}, wider than this server's own network: anyone there may "
            "send mail through it without signing in (an open relay)."
        )
    if _relay_open(settings):
        risks.append(
            "Neither smtpd_relay_restrictions nor smtpd_recipient_restrictions rejects unauthorised destinations "
            "(reject_unauth_destination) before a permit: the server relays mail for anyone."
        )
    return risks


def dovecot_risks(settings: dict[str, str], context: dict[str, str]) -> list[str]:
    """``settings``: this file's; ``context``: the Dovecot settings of every watched Dovecot file together."""
    risks = []
    if _is_no(settings.get("disable_plaintext_auth")) or settings.get("auth_allow_cleartext", "").lower() == "yes":
        risks.append(
            "disable_plaintext_auth = no: passwords may be sent without encryption, readable by anyone on the way."
        )
    if _is_no(settings.get("ssl")):
        risks.append("ssl = no: IMAP and POP3 connections are not encrypted; passwords and mail travel in clear.")
    return risks


def risks(path: str, old: str, new: str, context: dict[str, str], local: list) -> list[str]:
    """Plain sentences for what this change opens (rules that hold now and did not before)."""
    rules = _rules_for(path)
    if rules is None:
        return []
    now, before = rules(new, context, local), rules(old, {}, local) if old else []
    found = [risk for risk in now if risk not in before]
    if _mechanisms_gained_plain(path, old, new) and not _tls_required(context):
        found.append(
            "auth_mechanisms gained plain (or login) while TLS is not required (ssl = no or "
            "disable_plaintext_auth = no): passwords can be read on the network."
        )
    return found


def _rules_for(path: str):
    name = os.path.basename(path)
    if name == "main.cf":
        return lambda text, context, local: postfix_risks(settings_of(text, postfix=True), local)
    if "dovecot" in path and (name.endswith(".conf") or name.endswith(".conf.ext")):
        return lambda text, context, local: dovecot_risks(settings_of(text), context)
    return None


def _mechanisms_gained_plain(path: str, old: str, new: str) -> bool:
    if "dovecot" not in path:
        return False
    before = set(_words(settings_of(old).get("auth_mechanisms", "")))
    after = set(_words(settings_of(new).get("auth_mechanisms", "")))
    return bool({"plain", "login"} & after - before)


def _tls_required(context: dict[str, str]) -> bool:
    return not _is_no(context.get("ssl")) and not _is_no(context.get("disable_plaintext_auth"))


def local_networks() -> list:
    """The networks of this server's own interfaces (what "the local network" means for mynetworks)."""
    import psutil

    networks = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.netmask and address.family.name in ("AF_INET", "AF_INET6"):
                try:
                    networks.append(
                        ipaddress.ip_network(f"{address.address.split('%')[0]}/{address.netmask}", strict=False)
                    )
                except ValueError:
                    continue
    return networks
