"""The portal's menus: what a person's own pages are, and IT's pages grouped as People, Policies, Monitoring
and Administration.

One table says which page belongs where; the context processor turns it into the top row (own pages and one
entry per group) and the sub-menu of the group the current page belongs to, with that page marked. A group
with a single page a person may open (an executive's "Summary") shows as that page in the top row.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.http import HttpRequest


@dataclass(frozen=True)
class Entry:
    label: str
    url_name: str
    capability: str
    # The other views that count as this page: "namespace:name", with * as in a file pattern ("dnsbl:*")
    matches: tuple[str, ...] = ()

    def is_current(self, view: str) -> bool:
        return view == self.url_name or any(fnmatchcase(view, pattern) for pattern in self.matches)


@dataclass(frozen=True)
class Group:
    label: str
    entries: tuple[Entry, ...]


OWN_PAGES = (
    Entry("Home", "home", "use_portal"),
    Entry("My policies", "policies:mine", "read_policies", ("policies:read", "policies:version", "policies:diff",
          "policies:attest", "policies:acknowledge")),
    Entry("My devices", "devices", "manage_own_devices", ("device_create", "device_detail", "device_revoke",
          "device_certificate", "device_certificate_issue", "app_password_*")),
    Entry("My tokens", "otp_tokens", "manage_own_tokens", ("otp_enrol*", "otp_token_remove", "otp_backup_codes",
          "password_change")),
)  # fmt: skip

GROUPS = (
    Group("People", (
        Entry("Users", "users", "manage_users", ("user_detail", "user_device_create", "user_reset_tokens",
              "user_invite", "user_app_password*")),
        Entry("New user", "user_create", "manage_users"),
        Entry("Import CSV", "users_import", "manage_users"),
        Entry("Invitations", "invitations", "manage_users", ("invitation_revoke",)),
        Entry("OTP coverage", "otp_coverage", "manage_users"),
        Entry("Lockouts", "lockouts", "manage_users", ("lockout_lift",)),
        Entry("Devices", "all_devices", "manage_users", ("device_settings",)),
        Entry("Webmail sessions", "gateway_sessions", "manage_users", ("gateway_user_sessions", "gateway_session_end")),
    )),
    Group("Policies", (
        Entry("Policies", "policies:manage", "manage_policies", ("policies:create", "policies:edit", "policies:publish",
              "policies:retire", "policies:reviewed")),
        Entry("Library", "policies:library", "manage_policies", ("policies:adopt*",)),
        Entry("Reviews", "policies:reviews", "manage_policies"),
        Entry("Campaigns", "policies:campaigns", "manage_campaigns", ("policies:campaign*",)),
        Entry("Procedures", "policies:procedures", "manage_procedures", ("policies:procedure*",)),
        Entry("Summary", "policies:summary", "view_summary", ("policies:summary_targets", "policies:summary_email")),
    )),
    Group("Monitoring", (
        Entry("Block lists", "dnsbl:dashboard", "view_monitoring", ("dnsbl:*",)),
        Entry("Server load", "serverload:dashboard", "view_monitoring", ("serverload:*",)),
        Entry("Sending", "sending:dashboard", "view_monitoring", ("sending:*",)),
    )),
    Group("Administration", (
        Entry("Outgoing messages", "outbox:messages", "manage_messages", ("outbox:message_retry",)),
        Entry("Alert channels", "outbox:channels", "manage_messages", ("outbox:channel*",)),
        Entry("Sign-in settings", "sign_in_settings", "manage_users"),
        Entry("Device certificates", "device_ca", "manage_users", ("device_ca_rotate", "device_ca_retire")),
        Entry("Audit log", "audit_log", "view_audit_log"),
        Entry("Admin site", "admin:index", "use_admin"),
    )),
)  # fmt: skip


@dataclass(frozen=True)
class Item:
    label: str
    url_name: str
    # The aria-current value: "page" for the page shown, "true" for the group it belongs to, "" otherwise
    current: str


@dataclass(frozen=True)
class Menu:
    top: tuple[Item, ...]
    # The sub-menu of the group the current page belongs to (empty outside IT's groups)
    section: str
    sub: tuple[Item, ...]


def current_view(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or not match.url_name:
        return ""
    return f"{match.namespace}:{match.url_name}" if match.namespace else match.url_name


def _page(current: bool) -> str:
    return "page" if current else ""


def menu_for(view: str, can: dict[str, bool]) -> Menu:
    top = [Item(e.label, e.url_name, _page(e.is_current(view))) for e in OWN_PAGES if can.get(e.capability)]
    section, sub = "", ()
    for group in GROUPS:
        entries = [e for e in group.entries if can.get(e.capability)]
        if not entries:
            continue
        current = [e.is_current(view) for e in entries]
        if len(entries) == 1:
            top.append(Item(entries[0].label, entries[0].url_name, _page(current[0])))
            continue
        top.append(Item(group.label, entries[0].url_name, "true" if any(current) else ""))
        if any(current):
            section = group.label
            sub = tuple(Item(e.label, e.url_name, _page(here)) for e, here in zip(entries, current, strict=True))
    return Menu(tuple(top), section, sub)
