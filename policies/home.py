"""The policies part of the home page."""

from __future__ import annotations

from django.http import HttpRequest


def home_context(request: HttpRequest) -> dict:
    return {}
