"""The portal's own 403 and 404 pages, in production and in ``make run`` (DEBUG) alike, and one log line
per client error.

With DEBUG on, Django answers an unknown URL with its technical page, which lists every URL pattern of the
portal; ``DebugNotFoundMiddleware`` shows the portal's 404 page instead (a 500 still shows the debug page,
and tests run with DEBUG off, where the handlers below answer). Django logs a refused request with the
exception's traceback; a 403 or 404 is an ordinary answer, so ``OneLineForClientErrors`` keeps its line
("Forbidden (Permission denied): /accounts/users/") and drops the traceback. A 5xx keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


class DebugNotFoundMiddleware:
    """With DEBUG on, a 404 (an unknown URL or a view's Http404) renders templates/404.html, not Django's
    technical page. Placed after CommonMiddleware, so a missing slash is still redirected."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.DEBUG:
            try:
                resolve(request.path_info, urlconf=getattr(request, "urlconf", None))
            except Resolver404 as exc:
                return page_not_found(request, exc)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if settings.DEBUG and isinstance(exception, Http404):
            return page_not_found(request, exception)
        return None


class OneLineForClientErrors(logging.Filter):
    """A 4xx record of django.request keeps its one line and loses the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if 400 <= getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True
