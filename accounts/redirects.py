"""Where the portal may send a browser after sign-in: itself, or a webmail host listed in settings."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next_url(request: HttpRequest, url: str | None) -> str | None:
    """``url`` when it points to this portal or to a host in ``GATEWAY_ALLOWED_HOSTS``; otherwise None."""
    if not url:
        return None
    allowed = {request.get_host(), *settings.GATEWAY_ALLOWED_HOSTS}
    require_https = request.is_secure() or not settings.DEBUG
    if url_has_allowed_host_and_scheme(url, allowed_hosts=allowed, require_https=require_https):
        return url
    # Relative URLs are always fine; absolute ones to our own host over plain HTTP in DEBUG too.
    if url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=False):
        return url
    return None
