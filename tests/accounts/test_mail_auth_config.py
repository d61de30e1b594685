"""``manage.py mail_auth_config``: the Dovecot passdb chain, the Lua passdb and Postfix submission lines.

The integration tests run Dovecot and Postfix on exactly this output; these check the options.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def run(*args: str) -> str:
    out = StringIO()
    call_command("mail_auth_config", *args, stdout=out)
    return out.getvalue()


def test_it_prints_every_file_with_the_chain_in_order(settings):
    settings.MAIL_AUTH_SOCKET = "/run/portal/mail-auth.sock"
    text = run()
    for name in ("auth-portal.conf.ext", "portal-mail-auth.lua", "portal-passdb.lua", "main.cf.portal"):
        assert f"/{name} =====" in text
    chain = [m.group(1) for m in re.finditer(r"^  (?:driver|args) = (.*)$", text, re.MULTILINE)]
    assert chain[0] == "lua"
    assert "portal-passdb.lua blocking=yes cache_key=%u%s%{sha256:password}" in chain[1]
    assert chain[2] == "pam"  # the site's passdb in the middle
    assert "portal-mailbox-ok.lua" in chain[4] and "portal-mailbox-failed.lua" in chain[6]
    assert chain[7] == "passwd"
    assert "auth_cache_ttl = 30 s" in text
    assert "auth_cache_negative_ttl = 0" in text
    assert 'local SOCKET = "/run/portal/mail-auth.sock"' in text
    assert "@SOCKET@" not in text and "@LUA_DIR@" not in text and "@TIMEOUT@" not in text
    assert "smtpd_sasl_type = dovecot" in text and "smtpd_sasl_path = private/auth" in text
    assert "submission inet n       -       y" in text
    assert "unix_listener portal-master" in text


def test_it_writes_the_files_for_another_site(tmp_path):
    run(
        "--write", str(tmp_path), "--socket", "/srv/portal/var/mail-auth.sock", "--site-passdb-driver", "passwd-file",
        "--site-passdb-args", "scheme=SHA512-CRYPT /etc/dovecot/users", "--cache-ttl", "20", "--no-postfix-chroot",
        "--postfix-sasl-listener", "/run/dovecot/postfix-auth", "--submissions", "",
    )  # fmt: skip
    conf = (tmp_path / "dovecot/conf.d/auth-portal.conf.ext").read_text()
    assert "driver = passwd-file\n  args = scheme=SHA512-CRYPT /etc/dovecot/users" in conf
    assert "auth_cache_ttl = 20 s" in conf
    assert "smtpd_sasl_path = /run/dovecot/postfix-auth" in (tmp_path / "postfix/main.cf.portal").read_text()
    master = (tmp_path / "postfix/master.cf.portal").read_text()
    assert "submission inet n       -       n" in master and "submissions" not in master.split("\n", 2)[2]
    assert (tmp_path / "dovecot/portal/portal-mailbox-failed.lua").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--socket", "relative.sock"], "absolute path"),
        (["--lua-dir", "/etc/dovecot/x y"], "absolute path"),
        (["--site-passdb-args", "x }\npassdb {"], "one line"),
        (["--site-passdb-driver", "pam extra"], "single word"),
        (["--cache-ttl", "60"], "60 s"),
        (["--master-listener", "flush"], "-master"),
        (["--submission", "0.0.0.0:587 inet"], "service name"),
    ],
)
def test_it_refuses_options_that_would_break_the_files(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
