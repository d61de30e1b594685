"""manage.py gateway_nginx_config: the nginx server block for webmail behind the portal."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.nginx import NginxServer, require_nginx
from tests.services import free_port


def config(*args: str) -> str:
    out = StringIO()
    call_command("gateway_nginx_config", *args, stdout=out)
    return out.getvalue()


SIBLINGS = ["--portal", "https://portal.example.com", "--upstream", "http://127.0.0.1:8080/"]


def test_it_prints_a_server_block_for_sibling_hosts():
    text = config(*SIBLINGS, "--server-name", "mail.example.com")
    assert "server_name mail.example.com;" in text
    assert "listen 443 ssl;" in text
    assert "    ssl_certificate     /etc/letsencrypt/live/mail.example.com/fullchain.pem;" in text
    assert "auth_request /_portal_gateway_auth;" in text
    assert "location = /_portal_gateway_auth {\n        internal;" in text
    assert "proxy_pass_request_body off;" in text
    assert 'proxy_set_header Content-Length "";' in text
    assert "proxy_pass http://127.0.0.1:8000/gateway/auth;" in text
    assert "proxy_set_header Host portal.example.com;" in text
    # The audit log's address: nginx appends the browser's, so one the browser sent is not believed.
    auth_location = text.split("location = /_portal_gateway_auth {", 1)[1].split("}", 1)[0]
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in auth_location
    assert "auth_request_set $portal_user $upstream_http_x_portal_user;" in text
    assert "proxy_set_header X-Portal-User $portal_user;" in text
    assert "error_page 401 = @portal_signin;" in text
    assert "return 302 https://portal.example.com/gateway/signin?next=$scheme://$http_host$request_uri;" in text
    assert "proxy_pass http://127.0.0.1:8080;" in text
    assert "location /portal/" not in text


def test_it_serves_the_portal_under_a_path_of_the_webmail_host():
    text = config(
        "--portal", "https://mail.example.com/portal/", "--upstream", "http://127.0.0.1:8080",
        "--server-name", "mail.example.com", "--portal-backend", "http://10.0.0.5:8000",
    )  # fmt: skip
    assert "location /portal/ {\n        proxy_pass http://10.0.0.5:8000/;" in text
    assert "proxy_pass http://10.0.0.5:8000/gateway/auth;" in text
    assert "proxy_set_header Host $host;" in text
    assert "return 302 https://mail.example.com/portal/gateway/signin?next=" in text


def test_it_comments_out_tls_lines_without_ssl():
    text = config(*SIBLINGS, "--server-name", "mail.example.com", "--listen", "127.0.0.1:8443")
    assert "    # ssl_certificate     /etc/letsencrypt/live/mail.example.com/fullchain.pem;" in text


def test_it_turns_on_sni_for_an_https_portal_backend():
    text = config(*SIBLINGS, "--server-name", "m.example.com", "--portal-backend", "https://portal.example.com")
    assert "proxy_ssl_server_name on;" in text


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--portal", "ftp://portal.example.com", "--portal: expected an http"),
        ("--portal", "https://portal.example.com/;return 200", "--portal: expected an http"),
        ("--upstream", "http://127.0.0.1:8080 }", "--upstream: expected an http"),
        ("--server-name", "mail.example.com; evil", "--server-name: expected a host name"),
        ("--portal-backend", "http://127.0.0.1:8000/app", "--portal-backend: give gunicorn's address"),
        ("--listen", "443 ssl; include /etc/passwd", "--listen: expected"),
    ],
)
def test_it_refuses_values_that_would_break_the_config(option, value, message):
    args = {"--portal": "https://portal.example.com", "--upstream": "http://127.0.0.1:8080"}
    args["--server-name"] = "mail.example.com"
    args[option] = value
    with pytest.raises(CommandError, match=message):
        config(*[item for pair in args.items() for item in pair])


@pytest.mark.integration
@pytest.mark.parametrize("portal", ["https://portal.example.com", "https://mail.example.com/portal"])
def test_nginx_accepts_the_printed_block(portal, tmp_path):
    require_nginx()
    port = free_port()
    text = config(
        "--portal", portal, "--upstream", "http://127.0.0.1:9", "--server-name", "mail.example.com",
        "--listen", f"127.0.0.1:{port}",
    )  # fmt: skip
    result = NginxServer(text, tmp_path / "nginx", port).check()
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
