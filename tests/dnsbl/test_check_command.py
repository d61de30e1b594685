"""``manage.py dnsbl_check``: exit status 0 / 1 / 2 and the JSON the issue specifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from tests.dnsserver import ip_zone

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("dnsbl_check", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def lists(dns_server, dnsbl_catalogue):
    dnsbl_catalogue(
        {"zone": "bl.test", "codes": {"127.0.0.2": "Spam source"}},
        {"zone": "zen.spamhaus.test", "refusal_codes": ["127.255.255.254"]},
        {"zone": "all.test"},
    )
    return dns_server([
        ip_zone("bl.test", {"192.0.2.7": (["127.0.0.2"], "Listed for spam")}),
        ip_zone("zen.spamhaus.test", mode="refuse", refusal="127.255.255.254"),
        ip_zone("all.test", mode="everything"),
        ip_zone("outside.test", {"192.0.2.3": ["127.0.0.9"]}),
    ])  # fmt: skip


def test_it_exits_0_when_nothing_is_listed(lists):
    code, out, _ = run("192.0.2.8", "--zones", "bl.test")
    assert code == 0
    assert "0 listed" in out


def test_a_refusal_is_not_clean_even_when_other_lists_answered(lists):
    # Issue 13: Spamhaus refused (public resolver), bl.test said "not listed": a script must not read 0.
    code, _, err = run("192.0.2.8", "--zones", "bl.test,zen.spamhaus.test")
    assert code == 3
    assert "1 lookup refused by the list" in err


def test_it_exits_1_when_listed_on_a_healthy_list_and_prints_json(lists):
    code, out, _ = run("192.0.2.0/29", "--json")
    assert code == 1
    data = json.loads(out)
    assert set(data) == {"zones", "results"}
    assert data["zones"] == [
        {"zone": "bl.test", "health": "healthy"},
        {"zone": "zen.spamhaus.test", "health": "refused"},
        {"zone": "all.test", "health": "lists-everything"},
    ]
    assert all(set(r) == {"address", "zone", "status", "codes", "meaning", "txt"} for r in data["results"])
    listed = [r for r in data["results"] if r["status"] == "listed"]
    assert listed == [
        {"address": "192.0.2.7", "zone": "bl.test", "status": "listed", "codes": ["127.0.0.2"],
         "meaning": "Spam source", "txt": "Listed for spam"},
    ]  # fmt: skip
    by_zone = {r["zone"]: r["status"] for r in data["results"] if r["address"] == "192.0.2.1"}
    assert by_zone == {"bl.test": "clean", "zen.spamhaus.test": "refused", "all.test": "ignored"}


def test_a_listing_on_an_unhealthy_list_does_not_count(lists):
    code, out, err = run("192.0.2.8", "--zones", "all.test,zen.spamhaus.test", "--json")
    assert code == 3  # not listed, but not clean either: no working list answered
    assert "no working list answered for 192.0.2.8" in err
    assert {r["status"] for r in json.loads(out)["results"]} == {"ignored", "refused"}


def test_zones_outside_the_catalogue_are_read_generically(lists):
    code, out, _ = run("192.0.2.3", "--zones", "outside.test", "--json")
    assert code == 1
    result = json.loads(out)["results"][0]
    assert (result["status"], result["codes"], result["meaning"]) == ("listed", ["127.0.0.9"], "listed (127.0.0.9)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["garbage"], "'garbage' is not an IP address or network"),
        (["10.0.0.0/8"], "16,777,216 addresses; check at most a /24"),
        (["2001:db8::/64"], "check at most a /120"),
        (["192.0.2.1", "--zones", "zen spamhaus.org"], "'zen spamhaus.org' is not a DNS zone name"),
        (["192.0.2.1", "--zones", " , "], "names no zone"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(lists, args, message):
    code, out, err = run(*args)
    assert code == 2
    assert message in err
    assert out == ""


def test_timeouts_exit_3_not_0(dns_server, dnsbl_catalogue):
    dnsbl_catalogue({"zone": "bl.test"}, {"zone": "silent.test"})
    dns_server([ip_zone("bl.test"), ip_zone("silent.test", mode="silent")])
    code, out, err = run("192.0.2.8", "--json")
    assert code == 3
    assert "1 lookup got no usable answer" in err
    assert {r["zone"]: r["status"] for r in json.loads(out)["results"]} == {
        "bl.test": "clean",
        "silent.test": "unknown",
    }


def test_an_address_no_list_takes_is_not_reported_clean(lists, dnsbl_catalogue):
    dnsbl_catalogue({"zone": "bl.test"})  # IPv4 only
    code, _, err = run("2001:db8::25")
    assert code == 3 and "no working list answered for 2001:db8::25" in err


def test_a_lookup_that_cannot_be_asked_exits_3_not_1(dns_server, dnsbl_catalogue):
    # A key too long for a DNS label (stored before the form checked keys): no query can be built.
    dnsbl_catalogue({"zone": "keyed.test", "needs_key": True, "key": "k" * 70})
    dns_server([ip_zone("keyed.test")])
    code, out, err = run("192.0.2.8")
    assert code == 3 and out == ""
    assert "could not check: LabelTooLong" in err
    assert "k" * 70 not in err  # the key is a credential


@pytest.mark.django_db(transaction=True)  # the rows must be visible to another process
def test_manage_py_runs_the_check_with_the_block_lists_app_only(lists, settings):
    # What scripts run: manage.py sets Django up with the block lists' app alone (standalone.py). The same
    # answers as in process, from the same catalogue and settings.
    from django.db import connection

    from tests.services import ROOT, database_url

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "DNSBL_NAMESERVERS": lists.address,
        "DNSBL_TIMEOUT": str(settings.DNSBL_TIMEOUT),
        "DNSBL_LIFETIME": str(settings.DNSBL_LIFETIME),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "dnsbl_check", "192.0.2.0/29", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["zones"][0] == {"zone": "bl.test", "health": "healthy"}
    assert [(r["address"], r["zone"]) for r in data["results"] if r["status"] == "listed"] == [("192.0.2.7", "bl.test")]


def test_the_standalone_set_up_loads_no_other_app(tmp_path):
    from tests.services import ROOT

    script = (
        "import sys; from monitoring.dnsbl.standalone import setup; setup();"
        "from django.core.management import get_commands; assert get_commands()['dnsbl_check'] == 'monitoring.dnsbl';"
        "print(' '.join(m for m in ('celery', 'accounts', 'policies', 'portal.models', 'django.contrib.admin',"
        " 'monitoring.sending', 'monitoring.serverload', 'monitoring.dnsbl.sweep') if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PORTAL_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_manage_py_honours_settings_given_on_the_command_line(tmp_path):
    """The quick set-up runs before Django reads ``--settings``: given one, Django's own set-up does it."""
    from tests.services import ROOT

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PORTAL_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "dnsbl_check", "--settings=tests.no_such_settings", "192.0.2.1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0 and "tests.no_such_settings" in result.stderr
