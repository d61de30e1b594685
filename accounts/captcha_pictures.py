"""How many CAPTCHA pictures one client network may ask for: anonymous visitors create a row per picture.

The sign-in page and ``/captcha/refresh/`` each store a new challenge (django-simple-captcha's
``CaptchaStore``) for whoever asks, signed in or not. Rows expire after ``CAPTCHA_TIMEOUT`` minutes and
the accounts tick deletes them; this budget keeps what one network can create in the meantime small.
Counted in the cache (Redis in production): a count lost on a restart only gives a network a fresh minute.
While Redis is unreachable each web process counts on its own (``portal.cache``): the budget still holds,
per process.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.client_address import client_ip, network_of

# Generous: an office of many people behind one address, all asked for a picture, must not run out.
PICTURES_PER_MINUTE = 300


def allow(request: HttpRequest) -> bool:
    """Count one new picture for the request's network; False once its budget for this minute is spent."""
    key = f"captcha-pictures:{network_of(client_ip(request)) or 'unknown'}:{int(time.time() // 60)}"
    cache.add(key, 0, 120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, 120)
        count = 1
    return count <= PICTURES_PER_MINUTE


def refresh(request: HttpRequest) -> HttpResponse:
    """django-simple-captcha's refresh (a new picture for the same form), within the network's budget."""
    from captcha.views import captcha_refresh

    if request.headers.get("x-requested-with") == "XMLHttpRequest" and not allow(request):
        return JsonResponse({"error": "Too many new pictures from your network. Wait a minute."}, status=429)
    return captcha_refresh(request)
