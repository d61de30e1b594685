"""Webmail behind a real nginx (Debian's, auth_request) with the config gateway_nginx_config prints.

nginx listens on 127.0.0.1:<port>, asks the portal (pytest-django's live
server) about every request and proxies to a tiny upstream "webmail" that
records the headers it receives. Browsers send cookies by host, not port, so
the portal's cookie for ``localhost`` reaches ``localhost:<nginx port>`` as it
reaches a sibling host with SESSION_COOKIE_DOMAIN in production.
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore
from django.core.management import call_command
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import signin
from accounts.models import WebmailSession
from tests.conftest import totp_code
from tests.nginx import NginxServer, require_nginx
from tests.services import free_port

pytestmark = pytest.mark.integration


class Webmail:
    """The upstream nginx protects: answers every GET with a page and keeps the request headers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorded.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                body = b"<!doctype html><title>Webmail</title><h1>Inbox</h1>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def pages(self) -> list[dict[str, str]]:
        """The requests for pages (browsers also ask for /favicon.ico on their own)."""
        return [seen for seen in self.requests if seen["path"] != "/favicon.ico"]

    def __enter__(self) -> Webmail:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webmail():
    with Webmail() as server:
        yield server


def start_nginx(live_server, webmail, tmp_path, settings, script_name: str = "") -> tuple[NginxServer, str]:
    """nginx in front of ``webmail``, checking with the live portal, with the block the command prints."""
    require_nginx()
    port = free_port()
    base = f"http://localhost:{port}"
    portal_port = urlsplit(live_server.url).port
    settings.GATEWAY_ALLOWED_HOSTS = [f"localhost:{port}"]
    # Plain-HTTP webmail on localhost: safe_next_url allows http:// targets only in DEBUG.
    settings.DEBUG = True
    out = StringIO()
    call_command(
        "gateway_nginx_config", "--portal", f"{base}{script_name}" if script_name else live_server.url,
        "--upstream", webmail.url, "--server-name", "localhost",
        "--portal-backend", f"http://127.0.0.1:{portal_port}", "--listen", f"127.0.0.1:{port}", stdout=out,
    )  # fmt: skip
    return NginxServer(out.getvalue(), tmp_path / "nginx", port).start(), base


@pytest.fixture
def gateway_nginx(live_server, webmail, tmp_path, settings):
    """Layout A (sibling hosts): nginx for webmail, the portal on its own origin; yields nginx's base URL."""
    nginx, base = start_nginx(live_server, webmail, tmp_path, settings)
    yield base
    nginx.stop()


def fetch(url: str, cookie: str | None = None, **headers: str) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if cookie:
        headers["Cookie"] = cookie
    conn.request("GET", path or "/", headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def otp_session(user, settings) -> str:
    """A stored portal session past password and OTP, as a Cookie header value."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    device = device or TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[signin.OTP_VERIFIED_KEY] = int(time.time())
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def test_without_a_session_nginx_sends_the_browser_to_the_portal_sign_in(gateway_nginx, live_server, webmail):
    response = fetch(f"{gateway_nginx}/?_task=mail&_mbox=INBOX")
    assert response.status == 302
    signin = response.getheader("Location")
    assert signin == f"{live_server.url}/gateway/signin?next={gateway_nginx}/?_task=mail&_mbox=INBOX"
    login = fetch(signin)
    assert login.status == 302
    location = urlsplit(login.getheader("Location"))
    assert location.path == "/accounts/login/"
    assert parse_qs(location.query)["next"] == [f"{gateway_nginx}/?_task=mail&_mbox=INBOX"]
    assert webmail.requests == []


def test_an_otp_session_reaches_webmail_with_the_user_header(gateway_nginx, webmail, employee, settings):
    cookie = otp_session(employee, settings)
    response = fetch(f"{gateway_nginx}/?_task=mail", cookie, **{"X-Portal-User": "ceo@example.com"})
    assert response.status == 200
    (seen,) = webmail.requests
    assert seen["path"] == "/?_task=mail"
    assert seen["x-portal-user"] == "erin@example.com"  # nginx's, not the browser's forged one
    assert seen["x-portal-name"] == "Erin Employee"
    assert WebmailSession.objects.get().user == employee


def test_a_cookie_refused_after_sign_out_and_token_reset(gateway_nginx, webmail, employee, settings):
    cookie = otp_session(employee, settings)
    assert fetch(f"{gateway_nginx}/", cookie).status == 200
    SessionStore(session_key=cookie.split("=", 1)[1]).delete()  # what signing out does to the session
    assert fetch(f"{gateway_nginx}/", cookie).status == 302

    cookie = otp_session(employee, settings)
    assert fetch(f"{gateway_nginx}/", cookie).status == 200
    TOTPDevice.objects.filter(user=employee).delete()  # an IT token reset
    response = fetch(f"{gateway_nginx}/", cookie)
    assert response.status == 302
    assert "/gateway/signin?next=" in response.getheader("Location")
    assert len(webmail.requests) == 2


def test_the_portal_under_a_path_of_the_webmail_host(live_server, webmail, tmp_path, settings, employee):
    """Layout B: one host; nginx serves the portal under /portal/ (FORCE_SCRIPT_NAME) and webmail elsewhere."""
    settings.FORCE_SCRIPT_NAME = "/portal"
    nginx, base = start_nginx(live_server, webmail, tmp_path, settings, script_name="/portal")
    try:
        refused = fetch(f"{base}/?_task=mail")
        assert refused.getheader("Location") == f"{base}/portal/gateway/signin?next={base}/?_task=mail"
        signin = fetch(refused.getheader("Location"))
        location = urlsplit(signin.getheader("Location"))
        assert location.path == "/portal/accounts/login/"
        assert parse_qs(location.query)["next"] == [f"{base}/?_task=mail"]
        login_page = fetch(f"{base}{location.path}?{location.query}")
        assert login_page.status == 200
        assert webmail.requests == []

        assert fetch(f"{base}/?_task=mail", otp_session(employee, settings)).status == 200
        assert webmail.requests[-1]["x-portal-user"] == "erin@example.com"
    finally:
        nginx.stop()


# --- In Chromium, through the portal's real sign-in ------------------------------------------------


@pytest.mark.e2e
def test_webmail_in_chromium_needs_password_and_otp_and_ends_with_sign_out_and_reset(
    page, browser_sign_in, gateway_nginx, webmail, live_server, employee, it_staff, settings
):
    from accounts.enrolment import reset_tokens

    # The OTP form's redirect goes back to webmail on another origin; Chromium checks form-action on it.
    policy = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {**policy, "form-action": ["'self'", gateway_nginx]}}
    device = TOTPDevice.objects.create(user=employee, name="phone", confirmed=True)
    inbox = f"{gateway_nginx}/?_task=mail&_mbox=INBOX"

    page.goto(inbox)
    assert page.url.startswith(f"{live_server.url}/accounts/login/")
    assert webmail.requests == []
    browser_sign_in(page, employee, code=totp_code(device), goto=None, wait_for=None)
    page.wait_for_url(lambda url: url == inbox)
    assert page.get_by_role("heading", name="Inbox").is_visible()
    assert webmail.pages()[-1]["x-portal-user"] == "erin@example.com"

    page.goto(f"{live_server.url}/")
    page.get_by_role("button", name="Sign out").click()
    page.goto(inbox)
    assert page.url.startswith(f"{live_server.url}/accounts/login/")
    seen = len(webmail.pages())

    next_code = totp_code(device, time.time() + device.step)  # the next code: no reuse
    browser_sign_in(page, employee, code=next_code, goto=None, wait_for=None)
    page.wait_for_url(lambda url: url == inbox)
    assert len(webmail.pages()) == seen + 1

    reset_tokens(employee, actor=it_staff, reason="Phone lost")
    page.goto(inbox)
    assert page.url.startswith(f"{live_server.url}/gateway/signin")
    assert page.get_by_text("you have no token yet").is_visible()
    assert len(webmail.pages()) == seen + 1
