"""Print an nginx server block that puts the portal's one-time passwords in front of webmail.

    python manage.py gateway_nginx_config --portal https://portal.example.com \\
        --upstream http://127.0.0.1:8080 --server-name mail.example.com

docs/gateway.md explains every line. A ``--portal`` URL with a path
(``https://mail.example.com/portal``) means the portal lives under that path of
the webmail host (FORCE_SCRIPT_NAME); the block then serves it too.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import get_script_prefix, reverse

# Nothing that could end an nginx directive or open a block may come from the arguments.
_SAFE = re.compile(r"^[A-Za-z0-9._:/\[\]@%~+-]+$")
AUTH_LOCATION = "/_portal_gateway_auth"


def _url(value: str, option: str) -> tuple[str, str, str]:
    """(scheme, host[:port], path without trailing slash) of an http(s) URL, or CommandError."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc or not _SAFE.match(value):
        raise CommandError(f"{option}: expected an http:// or https:// URL such as https://portal.example.com")
    if parts.query or parts.fragment:
        raise CommandError(f"{option}: the URL must not have a query or fragment")
    return parts.scheme, parts.netloc, parts.path.rstrip("/")


def _path(url_name: str) -> str:
    """The view's path from the portal's root, as gunicorn sees it (the script name is added by --portal)."""
    path, prefix = reverse(url_name), get_script_prefix()
    return "/" + path.removeprefix(prefix) if path.startswith(prefix) else path


def render_config(portal: str, upstream: str, server_name: str, portal_backend: str, listen: str) -> str:
    portal_scheme, portal_host, script_name = _url(portal, "--portal")
    _url(upstream, "--upstream")
    backend_scheme, _, backend_path = _url(portal_backend, "--portal-backend")
    if backend_path:
        raise CommandError("--portal-backend: give gunicorn's address without a path, e.g. http://127.0.0.1:8000")
    if not re.fullmatch(r"[A-Za-z0-9.*-]+", server_name):
        raise CommandError("--server-name: expected a host name such as mail.example.com")
    if not re.fullmatch(r"[A-Za-z0-9.:\[\] ]+", listen):
        raise CommandError("--listen: expected an nginx listen value such as '443 ssl' or '127.0.0.1:8080'")
    portal_url = f"{portal_scheme}://{portal_host}{script_name}"
    backend = portal_backend.rstrip("/")
    # Sibling hosts: the portal's own host name must reach Django (ALLOWED_HOSTS). Under a path: this host.
    auth_host = "$host" if script_name else portal_host
    tls = "ssl" in listen.split()
    hash_ = "" if tls else "# "
    lines = [
        f"# Webmail on {server_name} behind the portal's one-time passwords (manage.py gateway_nginx_config).",
        "# See docs/gateway.md for what each line does.",
        "server {",
        f"    listen {listen};",
        f"    server_name {server_name};",
        "",
        f"    # TLS: point these at your certificate{'' if tls else ' (commented out: --listen has no ssl)'}.",
        f"    {hash_}ssl_certificate     /etc/letsencrypt/live/{server_name}/fullchain.pem;",
        f"    {hash_}ssl_certificate_key /etc/letsencrypt/live/{server_name}/privkey.pem;",
        f"    {hash_}ssl_protocols TLSv1.2 TLSv1.3;",
        "",
        "    # Webmail: every request is first checked by the portal.",
        "    location / {",
        f"        auth_request {AUTH_LOCATION};",
        "        auth_request_set $portal_user $upstream_http_x_portal_user;",
        "        auth_request_set $portal_name $upstream_http_x_portal_name;",
        "        error_page 401 = @portal_signin;",
        "",
        "        # Set here, so a browser cannot send its own X-Portal-User.",
        "        proxy_set_header X-Portal-User $portal_user;",
        "        proxy_set_header X-Portal-Name $portal_name;",
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "        proxy_set_header X-Forwarded-Proto $scheme;",
        f"        proxy_pass {upstream.rstrip('/')};",
        "    }",
        "",
        "    # The check itself: internal only, no request body, the browser's cookies.",
        f"    location = {AUTH_LOCATION} {{",
        "        internal;",
        f"        proxy_pass {backend}{_path('gateway_auth')};",
        "        proxy_pass_request_body off;",
        '        proxy_set_header Content-Length "";',
        f"        proxy_set_header Host {auth_host};",
        "        proxy_set_header X-Forwarded-Proto https;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "        proxy_set_header X-Original-URI $request_uri;",
        "        proxy_connect_timeout 5s;",
        "        proxy_read_timeout 10s;",
    ]
    if backend_scheme == "https":
        lines.append("        proxy_ssl_server_name on;")
    lines += [
        "    }",
        "",
        "    # No valid session: on to the portal's sign-in, which comes back here afterwards.",
        "    location @portal_signin {",
        f"        return 302 {portal_url}{_path('gateway_signin')}?next=$scheme://$http_host$request_uri;",
        "    }",
    ]
    if script_name:
        lines += [
            "",
            f"    # The portal itself under {script_name}/ (FORCE_SCRIPT_NAME={script_name} in the portal's .env).",
            f"    location {script_name}/ {{",
            f"        proxy_pass {backend}/;",
            "        proxy_set_header Host $host;",
            "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "        proxy_set_header X-Forwarded-Proto $scheme;",
            "    }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


class Command(BaseCommand):
    help = "Print an nginx server block putting the portal's OTP sign-in in front of webmail (docs/gateway.md)."
    requires_system_checks: list = []  # it only prints text

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--portal", required=True, help="the portal's URL as browsers see it")
        parser.add_argument("--upstream", required=True, help="where nginx reaches webmail, e.g. http://127.0.0.1:8080")
        parser.add_argument("--server-name", required=True, help="webmail's host name, e.g. mail.example.com")
        parser.add_argument(
            "--portal-backend",
            default="http://127.0.0.1:8000",
            help="where nginx reaches the portal's gunicorn (default http://127.0.0.1:8000)",
        )
        parser.add_argument("--listen", default="443 ssl", help="nginx listen value (default '443 ssl')")

    def handle(self, *args: object, **options: str) -> None:
        self.stdout.write(
            render_config(
                options["portal"],
                options["upstream"],
                options["server_name"],
                options["portal_backend"],
                options["listen"],
            ),
            ending="",
        )
