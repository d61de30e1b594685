from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts import home as accounts_home
from accounts.roles import requires
from monitoring import home as monitoring_home
from policies import home as policies_home
from portal.health import run_checks


@requires("use_portal")
def home(request: HttpRequest) -> HttpResponse:
    # Each app contributes its own part of the home page (templates/<app>/_home.html).
    ctx = {
        "accounts": accounts_home.home_context(request),
        "policies": policies_home.home_context(request),
        "monitoring": monitoring_home.home_context(request),
    }
    return render(request, "portal/home.html", ctx)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = run_checks()
    failing = [name for name, check in checks.items() if not check.ok]
    body = {
        "status": "ok" if not failing else "failing",
        "failing": failing,
        "checks": {name: {"ok": check.ok, "detail": check.detail} for name, check in checks.items()},
    }
    return JsonResponse(body, status=503 if failing else 200)
