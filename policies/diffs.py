"""Line differences between two policy versions, for the side-by-side reading page."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same" | "added" | "removed" | "gap"
    text: str

    @property
    def sign(self) -> str:
        return {"added": "+", "removed": "\N{MINUS SIGN}", "gap": "…"}.get(self.kind, " ")


def version_diff(old: str, new: str, context: int = 3) -> list[DiffLine]:
    """Changed lines with ``context`` unchanged lines around them; an empty list when nothing changed."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for index, group in enumerate(matcher.get_grouped_opcodes(context)):
        if index:
            lines.append(DiffLine("gap", ""))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine("same", text) for text in old_lines[i1:i2]]
                continue
            lines += [DiffLine("removed", text) for text in old_lines[i1:i2]]
            lines += [DiffLine("added", text) for text in new_lines[j1:j2]]
    return lines
