"""Every action the code records has words on the audit log page (accounts/audit_words.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.urls import reverse

from accounts import audit
from accounts.audit_words import ACTION_WORDS, action_words

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "policies", "portal", "monitoring")


def _modules():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text(encoding="utf-8"))


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _called_name(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)


def recorded_actions() -> set[str]:
    """The actions passed to ``record(...)``: literal ones, ones a variable takes in the same function,
    and, when the action is a parameter of that function, what its callers pass."""
    actions: set[str] = set()
    forwarded: dict[str, int] = {}  # function name -> position of the parameter that carries the action
    modules = list(_modules())
    for _, tree in modules:
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            params = [a.arg for a in function.args.args]
            for call in [n for n in ast.walk(function) if isinstance(n, ast.Call)]:
                if _called_name(call) != "record" or not call.args:
                    continue
                first = call.args[0]
                if not isinstance(first, ast.Name):
                    actions |= _strings(first)
                elif first.id in params:
                    forwarded[function.name] = params.index(first.id)
                else:
                    for assign in [n for n in ast.walk(function) if isinstance(n, ast.Assign)]:
                        if any(isinstance(t, ast.Name) and t.id == first.id for t in assign.targets):
                            actions |= _strings(assign.value)
    for _, tree in modules:
        for call in [n for n in ast.walk(tree) if isinstance(n, ast.Call)]:
            position = forwarded.get(_called_name(call) or "")
            if position is not None and len(call.args) > position:
                actions |= _strings(call.args[position])
    return actions


def test_every_recorded_action_has_words():
    actions = recorded_actions()
    assert {"otp.throttled", "user.deactivated", "sending.deferred", "reauth.failure"} <= actions  # the scan works
    assert sorted(actions - ACTION_WORDS.keys()) == []


def test_the_words_read_as_a_person_would_say_them():
    assert action_words("otp.throttled") == "Code refused: too many attempts"
    assert action_words("some.old_action") == "some.old_action"
    assert all(words[0].isupper() and not words.endswith(".") for words in ACTION_WORDS.values())


@pytest.mark.django_db
def test_the_audit_log_shows_words_and_the_action(client, login, it_staff):
    audit.record("otp.throttled", actor=it_staff, target=it_staff.email)
    login(client, it_staff)
    page = client.get(reverse("audit_log")).content.decode()
    assert "Code refused: too many attempts" in page and '<code class="muted">otp.throttled</code>' in page
    assert 'class="table-wrap" tabindex="0" role="region" aria-label="Events"' in page
