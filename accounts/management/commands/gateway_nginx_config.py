"""Print an nginx server block that puts the portal's one-time passwords in front of webmail.

    python manage.py gateway_nginx_config --portal https://portal.example.com \\
        --upstream http://127.0.0.1:8080 --server-name mail.example.com

docs/gateway.md explains every line. A ``--portal`` URL with a path
(``https://mail.example.com/portal``) means the portal lives under that path of
the webmail host (FORCE_SCRIPT_NAME); the block then serves it too.

``--client-certificates`` makes nginx ask browsers for a company certificate of the
devices CA (docs/devices.md). Whether or not it is given, the block always *sets* the
certificate headers the portal reads, so a browser can never send its own.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import get_script_prefix, reverse

# Nothing that could end an nginx directive or open a block may come from the arguments.
_SAFE = re.compile(r"^[A-Za-z0-9._:/\[\]@%~+-]+$")
AUTH_LOCATION = "/_portal_gateway_auth"
CERTIFICATE_REFUSED_LOCATION = "@webmail_certificate_refused"


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


def _webmail_lines(upstream: str) -> list[str]:
    """What nginx does with a webmail request: ask the portal, then proxy (location / and the 495 fallback)."""
    return [
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
    ]


# Always set on what goes to the portal: nginx's verdict on the browser's certificate, never the browser's.
CERTIFICATE_HEADERS = [
    "        proxy_set_header X-SSL-Client-Verify $ssl_client_verify;",
    "        proxy_set_header X-SSL-Client-Serial $ssl_client_serial;",
]


def _client_certificate_lines(ca_dir: str, tls: bool) -> list[str]:
    if not tls:
        raise CommandError("--client-certificates needs TLS: give --listen with ssl, e.g. '443 ssl'")
    if not _SAFE.match(ca_dir) or not ca_dir.startswith("/"):
        raise CommandError("--ca-dir: expected an absolute folder such as /var/lib/portal/device-ca")
    folder = ca_dir.rstrip("/")
    return [
        "",
        "    # Company certificates (docs/devices.md): nginx asks each browser for one of the devices CA's and",
        "    # checks it against these files, which the portal's worker keeps current (reload nginx after a change).",
        f"    ssl_client_certificate {folder}/ca-bundle.pem;",
        f"    ssl_crl {folder}/crl.pem;",
        "    ssl_verify_client optional;",
        "    ssl_verify_depth 1;",
        "    # A certificate nginx refuses (expired, revoked, another CA's) would end on nginx's own error page;",
        "    # instead the request goes on to the portal's check, which decides (a role may need none).",
        f"    error_page 495 = {CERTIFICATE_REFUSED_LOCATION};",
        "    recursive_error_pages on;",
    ]


def render_config(portal: str, upstream: str, server_name: str, portal_backend: str, listen: str,
                  client_certificates: bool = False, ssl_certificate: str = "", ssl_certificate_key: str = "",
                  ca_dir: str = "") -> str:  # fmt: skip
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
    certificate = ssl_certificate or f"/etc/letsencrypt/live/{server_name}/fullchain.pem"
    certificate_key = ssl_certificate_key or f"/etc/letsencrypt/live/{server_name}/privkey.pem"
    for option, value in (("--ssl-certificate", certificate), ("--ssl-certificate-key", certificate_key)):
        if not _SAFE.match(value):
            raise CommandError(f"{option}: expected a file path")
    lines = [
        f"# Webmail on {server_name} behind the portal's one-time passwords (manage.py gateway_nginx_config).",
        "# See docs/gateway.md for what each line does.",
        "server {",
        f"    listen {listen};",
        f"    server_name {server_name};",
        "",
        f"    # TLS: point these at your certificate{'' if tls else ' (commented out: --listen has no ssl)'}.",
        f"    {hash_}ssl_certificate     {certificate};",
        f"    {hash_}ssl_certificate_key {certificate_key};",
        f"    {hash_}ssl_protocols TLSv1.2 TLSv1.3;",
    ]
    if client_certificates:
        lines += _client_certificate_lines(ca_dir or str(settings.DEVICE_CA_DIR), tls)
    lines += [
        "",
        "    # Webmail: every request is first checked by the portal.",
        "    location / {",
        *_webmail_lines(upstream),
        "    }",
    ]
    if client_certificates:
        lines += [
            "",
            "    # Where a refused certificate's request goes on (error_page 495 above): the same check, which",
            "    # sees nginx's reason in X-SSL-Client-Verify.",
            f"    location {CERTIFICATE_REFUSED_LOCATION} {{",
            *([f"        rewrite ^({script_name}/.*)$ $1 last;  # the portal's own pages: on to its location"]
              if script_name else []),
            *_webmail_lines(upstream),
            "    }",
        ]  # fmt: skip
    lines += [
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
        *CERTIFICATE_HEADERS,
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
            *CERTIFICATE_HEADERS,
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
        parser.add_argument("--ssl-certificate", default="", help="the server's certificate (default: Let's Encrypt's)")
        parser.add_argument("--ssl-certificate-key", default="", help="its key (default: Let's Encrypt's)")
        parser.add_argument(
            "--client-certificates",
            action="store_true",
            help="ask browsers for a company certificate of the devices CA (docs/devices.md)",
        )
        parser.add_argument("--ca-dir", default="", help="where the portal writes the CA files (DEVICE_CA_DIR)")

    def handle(self, *args: object, **options: str) -> None:
        self.stdout.write(
            render_config(
                options["portal"],
                options["upstream"],
                options["server_name"],
                options["portal_backend"],
                options["listen"],
                client_certificates=bool(options["client_certificates"]),
                ssl_certificate=options["ssl_certificate"],
                ssl_certificate_key=options["ssl_certificate_key"],
                ca_dir=options["ca_dir"],
            ),
            ending="",
        )
