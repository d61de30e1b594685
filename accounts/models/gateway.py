"""Webmail gateway sessions (nginx auth_request)."""

from __future__ import annotations

__all__: list[str] = []
