"""Every kind of message the code sends has words on the Outgoing messages page (portal/message_kinds.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.urls import reverse

from portal.message_kinds import KIND_WORDS, kind_words
from portal.models import OutboxMessage

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "policies", "portal", "monitoring")
# The outbox functions that take a kind, and where: send_email(kind, …), channel_row(channel, kind, …).
KIND_ARGUMENT = {"send_email": 0, "alert_it": 0, "email_row": 0, "render": 0, "channel_row": 1}


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _outbox_function(call: ast.Call, imported: set[str]) -> str | None:
    """The name of the outbox function called (``outbox.render(…)``, or ``render`` imported from it), else None."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "outbox":
        return func.attr
    if isinstance(func, ast.Name) and func.id in imported:
        return func.id
    return None


def _imported_from_outbox(tree: ast.AST, path: Path) -> set[str]:
    if path == ROOT / "portal" / "outbox.py":
        return set(KIND_ARGUMENT)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "portal.outbox"]
    return {alias.asname or alias.name for node in imports for alias in node.names}


def _assigned(tree: ast.AST, name: str) -> set[str]:
    """The strings a name takes anywhere in the module (``TEST_KIND = "…"``, ``kind = "a" if x else "b"``)."""
    found: set[str] = set()
    for assign in [n for n in ast.walk(tree) if isinstance(n, ast.Assign)]:
        if any(isinstance(t, ast.Name) and t.id == name for t in assign.targets):
            found |= _strings(assign.value)
    return found


def sent_kinds() -> set[str]:
    """The kinds passed to the outbox: literal ones, and the strings a variable passed as the kind takes,
    unless that variable is the calling function's own parameter (the outbox passing a kind along)."""
    kinds: set[str] = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            imported = _imported_from_outbox(tree, path)
            for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
                params = {a.arg for a in function.args.args}
                for call in [n for n in ast.walk(function) if isinstance(n, ast.Call)]:
                    position = KIND_ARGUMENT.get(_outbox_function(call, imported) or "")
                    if position is None or len(call.args) <= position:
                        continue
                    kind = call.args[position]
                    if not isinstance(kind, ast.Name):
                        kinds |= _strings(kind)
                    elif kind.id not in params:
                        kinds |= _assigned(tree, kind.id)
    return kinds


def template_kinds() -> set[str]:
    return {path.name.removesuffix("-subject.txt") for path in (ROOT / "templates" / "emails").glob("*-subject.txt")}


def test_every_kind_sent_has_words():
    kinds = sent_kinds()
    # The scan works: a literal, a module constant and a variable given one of two kinds.
    assert {"accounts-otp-reuse", "portal-channel-test", "sending-soft-mark", "sending-limit-reached"} <= kinds
    assert sorted(kinds - KIND_WORDS.keys()) == []


def test_every_kind_with_templates_has_words_and_no_words_are_left_over():
    assert sorted(template_kinds() ^ KIND_WORDS.keys()) == []


def test_the_words_read_as_a_person_would_say_them():
    assert kind_words("accounts-otp-reuse") == "One-time code reused"
    assert kind_words("accounts-invitation") == "Invitation"
    assert kind_words("some-old-kind") == "some-old-kind"
    assert all(words[0].isupper() and not words.endswith(".") for words in KIND_WORDS.values())
    assert len(set(KIND_WORDS.values())) == len(KIND_WORDS)  # the filter never offers the same words twice


@pytest.mark.django_db
def test_the_page_and_its_filter_show_words_and_filter_by_code(client, login, it_staff):
    OutboxMessage.objects.create(key="a|email", kind="accounts-otp-reuse", to=["ivan@example.com"], subject="A")
    OutboxMessage.objects.create(key="b|email", kind="accounts-invitation", to=["erin@example.com"], subject="B")
    login(client, it_staff)
    page = client.get(reverse("outbox:messages")).content.decode()
    assert "<td>One-time code reused<br>" in page
    assert '<option value="accounts-otp-reuse">One-time code reused</option>' in page
    assert page.index('<option value="accounts-invitation">Invitation</option>') < page.index(
        '<option value="accounts-otp-reuse">'
    )  # the filter is in the order of its words
    only = client.get(reverse("outbox:messages"), {"kind": "accounts-otp-reuse"}).content.decode()
    assert "<td>One-time code reused<br>" in only and "<td>Invitation<br>" not in only
