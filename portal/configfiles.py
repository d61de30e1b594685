"""Configuration a command prints for another program (Dovecot, Postfix, nginx): print it, or write it to files."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO


def emit(files: dict[str, str], write_to: str | None, stdout: TextIO) -> None:
    """Write ``files`` ({relative path: text}) under ``write_to``, or print them one after another for reading."""
    if write_to:
        root = Path(write_to)
        for relative, text in files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            stdout.write(f"wrote {target}\n")
        return
    for relative, text in files.items():
        stdout.write(f"# ===== {relative} =====\n{text}")
