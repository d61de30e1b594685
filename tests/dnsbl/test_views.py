"""The DNSBL pages: they read stored rows, start work through Celery, and refuse bad input."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from monitoring.dnsbl import sweep as dnsbl_sweep
from monitoring.dnsbl.models import DnsblSchedule, DnsblSweep, DnsblZone, MonitoredAddress
from monitoring.status import status_lines
from tests.dnsserver import ip_zone

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, 42, tzinfo=UTC)


@pytest.fixture
def catalogue(db):
    """The catalogue as the migration loads it (a transactional test elsewhere may have flushed it)."""
    from monitoring.migrations._catalogue_0003 import load_catalogue

    load_catalogue(DnsblZone)


@pytest.fixture
def listed_sweep(dns_server, dnsbl_catalogue):
    dnsbl_catalogue(
        {"zone": "bl.test", "name": "Test BL", "delisting_url": "https://bl.test/remove"},
        {"zone": "other.test"},
        {"zone": "dead.test"},
    )
    dns_server([
        ip_zone("bl.test", {"192.0.2.25": (["127.0.0.2"], "Spam trap hit")}),
        ip_zone("other.test"),
        ip_zone("dead.test", mode="everything"),
    ])  # fmt: skip
    MonitoredAddress.objects.create(value="192.0.2.25", label="mail server")
    with time_machine.travel(T0, tick=False):
        sweep = DnsblSweep.objects.create(kind=DnsblSweep.Kind.SCHEDULED)
        return dnsbl_sweep.run_sweep(sweep.pk)


def test_the_dashboard_says_in_plain_words_where_we_are_listed(client, login, executive, listed_sweep):
    login(client, executive)
    with time_machine.travel(T0 + timedelta(hours=1)):
        response = client.get("/monitoring/dnsbl/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "Some of our mail may be refused: our mail server is on" in text  # the plain sentence leads
    assert "<summary>Details</summary><p>Clean on 1 of 2 working lists; listed on bl.test since 10:42." in text
    assert "Spam trap hit" in text and "https://bl.test/remove" in text
    # A list's health is grey or amber, never the red of "listed" (which is about our addresses)
    assert 'dnsbl-health status-warning">Lists everything' in text
    assert "status-lists-everything" not in text
    assert "2 of 3 lists" in text  # checked on: bl.test and other.test answered, dead.test is ignored
    assert "Check now" not in text  # executives read only


def test_the_matrix_has_distinct_symbols_with_words_and_horizontal_list_names(client, login, it_staff, listed_sweep):
    login(client, it_staff)
    text = client.get("/monitoring/dnsbl/").content.decode()
    assert '<span aria-hidden="true">\u2716</span><span class="dnsbl-sr">Listed</span>' in text
    assert '<span aria-hidden="true">\u2714</span><span class="dnsbl-sr">Clean</span>' in text
    assert '<span aria-hidden="true">\u25cb</span><span class="dnsbl-sr">Ignored</span>' in text
    assert 'title="bl.test">Test BL</th>' in text  # the list's name, not rotated (no writing-mode span)
    assert 'role="region" aria-label="Addresses and lists (scrolls sideways)"' in text
    assert 'dnsbl-zone-head"><span>' not in text


def test_most_lists_failing_shows_the_cause_and_the_fix_after_any_sweep(
    client, login, it_staff, executive, dnsbl_catalogue
):
    zones = dnsbl_catalogue(*({"zone": f"l{n}.test"} for n in range(5)))
    DnsblZone.objects.filter(zone__in=["l0.test", "l1.test", "l2.test"]).update(health="not-listing-test-entry")
    DnsblZone.objects.filter(zone="l3.test").update(health="unreachable")
    DnsblZone.objects.filter(zone="l4.test").update(health="healthy")
    assert len(zones) == 5
    DnsblSweep.objects.create(kind=DnsblSweep.Kind.SCHEDULED, state="done", finished_at=T0, total=5)
    login(client, it_staff)
    text = client.get("/monitoring/dnsbl/").content.decode()
    assert "4 of 5 lists failed their health check at once." in text
    assert "Likely cause:</strong> this server&#x27;s resolver cannot reach the lists" in text
    assert "3 lists answered &#x27;not listed&#x27; even for their test entries, 1 list did not answer" in text
    assert "DNSBL_NAMESERVERS=127.0.0.1" in text
    login(client, executive)  # the cause and the fix are IT's: executives read the plain sentence
    text = client.get("/monitoring/dnsbl/").content.decode()
    assert "Likely cause" not in text and "DNSBL_NAMESERVERS" not in text


def test_the_dashboard_warns_about_public_and_rewriting_resolvers(client, login, it_staff, db):
    DnsblSchedule.objects.update_or_create(
        pk=1, defaults={"resolver": "8.8.8.8", "resolver_is_public": True, "resolver_rewrites_nxdomain": True}
    )
    login(client, it_staff)
    text = client.get("/monitoring/dnsbl/").content.decode()
    assert "well-known public resolver" in text
    assert "rewrites NXDOMAIN" in text
    assert "No sweep has run yet." in text


def test_the_status_line_feeds_the_executive_summary(listed_sweep, django_assert_max_num_queries):
    from monitoring.dnsbl.report import status_line

    with django_assert_max_num_queries(4):
        line = status_line()
    assert line in status_lines()
    assert line.status == "critical"
    assert "listed on bl.test since 2 Mar 10:42" in line.text  # not today: the date is given


def test_check_now_queues_one_sweep_through_celery(client, login, it_staff, django_capture_on_commit_callbacks):
    login(client, it_staff)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post("/monitoring/dnsbl/sweep")
        client.post("/monitoring/dnsbl/sweep")
    assert DnsblSweep.objects.filter(kind="manual").count() == 1
    assert len(callbacks) == 1


def test_the_new_address_check_runs_as_a_task_and_shows_progress(
    client, login, it_staff, dns_server, dnsbl_catalogue, django_capture_on_commit_callbacks
):
    dnsbl_catalogue({"zone": "bl.test"})
    dns_server([ip_zone("bl.test", {"198.51.100.9": ["127.0.0.2"]})])
    login(client, it_staff)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/monitoring/dnsbl/check/", {"targets": "198.51.100.0/28"})
    sweep = DnsblSweep.objects.get(kind="check")
    assert response.url == f"/monitoring/dnsbl/check/{sweep.pk}/"
    assert client.get(f"/monitoring/dnsbl/sweeps/{sweep.pk}/status.json").json()["state"] == "queued"
    page = client.get(response.url).content.decode()
    assert "data-status-url" in page and "js/dnsbl.js" in page
    dnsbl_sweep.run_sweep(sweep.pk)  # what the worker does
    status = client.get(f"/monitoring/dnsbl/sweeps/{sweep.pk}/status.json").json()
    assert status == {"state": "done", "done": 16, "total": 16, "percent": 100, "error": ""}
    page = client.get(response.url).content.decode()
    assert "Listed 1 time on healthy lists" in page and "198.51.100.9" in page


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ("garbage", "is not an IP address or network"),
        ("10.0.0.0/8", "check at most a /24"),
        ("2001:db8::/100", "check at most a /120"),
    ],
)
def test_bad_input_to_the_check_page_is_refused_and_kept(client, login, it_staff, targets, message):
    login(client, it_staff)
    response = client.post("/monitoring/dnsbl/check/", {"targets": targets})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert targets in response.content.decode()  # what was typed is not lost
    assert not DnsblSweep.objects.exists()


def test_executives_cannot_see_new_address_checks(client, login, executive, db):
    sweep = DnsblSweep.objects.create(kind="check", targets=["192.0.2.1"])
    login(client, executive)
    assert client.get(f"/monitoring/dnsbl/sweeps/{sweep.pk}/status.json").status_code == 404


def test_it_staff_edit_a_zone_and_names_with_spaces_are_refused(client, login, it_staff, catalogue):
    login(client, it_staff)
    zone = DnsblZone.objects.get(zone="zen.spamhaus.org")
    data = {
        "name": "Spamhaus", "zone": "zen spamhaus.org", "kind": "ip", "codes": "127.0.0.2 = SBL",
        "refusal_codes": "127.255.255.254", "position": 1, "enabled": "on",
    }  # fmt: skip
    response = client.post(f"/monitoring/dnsbl/zones/{zone.pk}/", data)
    assert "is not a DNS zone name" in response.content.decode()
    data["zone"] = "zen.spamhaus.org"
    response = client.post(f"/monitoring/dnsbl/zones/{zone.pk}/", data)
    assert response.status_code == 302
    zone.refresh_from_db()
    assert zone.codes == {"127.0.0.2": "SBL"} and zone.refusal_codes == ["127.255.255.254"]


def test_a_keyed_list_cannot_be_enabled_without_its_key(client, login, it_staff, catalogue):
    login(client, it_staff)
    zone = DnsblZone.objects.get(zone="combined.mail.abusix.zone")
    data = {"name": zone.name, "zone": zone.zone, "kind": "ip", "needs_key": "on", "enabled": "on", "position": 1}
    response = client.post(f"/monitoring/dnsbl/zones/{zone.pk}/", data)
    assert "needs an access key" in response.content.decode()


def test_addresses_are_added_normalised_and_checked(client, login, it_staff, db):
    login(client, it_staff)
    client.post("/monitoring/dnsbl/addresses/", {"value": "2001:DB8:0::25", "label": "mail"})
    assert MonitoredAddress.objects.get().value == "2001:db8::25"
    assert MonitoredAddress.objects.get().kind == "ipv6"
    response = client.post("/monitoring/dnsbl/addresses/", {"value": "not a domain!"})
    assert "neither an IP address nor a domain" in response.content.decode()


def test_the_catalogue_holds_only_operating_lists_with_their_own_facts(catalogue):
    zones = {z.zone: z for z in DnsblZone.objects.all()}
    assert 15 <= len(zones) <= 25
    closed = ("sorbs", "manitu", "njabl", "ahbl", "dsbl", "ordb", "gbudb", "unsubscore")
    assert not [name for name in zones if any(word in name for word in closed)]
    assert zones["zen.spamhaus.org"].refusal_codes == ["127.255.255.252", "127.255.255.254", "127.255.255.255"]
    assert "127.0.1.255" in zones["dbl.spamhaus.org"].refusal_codes
    assert zones["multi.uribl.com"].refusal_codes == ["127.0.0.1"]
    assert zones["zen.spamhaus.org"].ipv6 and zones["dbl.spamhaus.org"].kind == "domain"
    assert all(z.delisting_url.startswith("https://") for z in zones.values())
    assert zones["b.barracudacentral.org"].needs_registration
    assert not zones["combined.mail.abusix.zone"].usable  # needs a key first


def test_a_list_key_is_never_sent_back_and_kept_when_left_empty(client, login, it_staff, catalogue):
    login(client, it_staff)
    zone = DnsblZone.objects.get(zone="combined.mail.abusix.zone")
    zone.key = "s3cr3t-key-123"
    zone.save()
    assert "s3cr3t-key-123" not in client.get(f"/monitoring/dnsbl/zones/{zone.pk}/").content.decode()
    data = {"name": zone.name, "zone": zone.zone, "kind": "ip", "needs_key": "on", "enabled": "on", "position": 1}
    assert client.post(f"/monitoring/dnsbl/zones/{zone.pk}/", data).status_code == 302
    zone.refresh_from_db()
    assert zone.key == "s3cr3t-key-123" and zone.enabled
    assert zone.query_zone == "s3cr3t-key-123.combined.mail.abusix.zone"


def test_a_suggested_address_is_offered_until_it_is_monitored(client, login, it_staff, db):
    MonitoredAddress.objects.create(
        value="example.com", suggestions=[{"address": "192.0.2.26", "host": "mail.example.com"}]
    )
    login(client, it_staff)
    assert "192.0.2.26 (mail.example.com)" in client.get("/monitoring/dnsbl/addresses/").content.decode()
    client.post("/monitoring/dnsbl/addresses/", {"value": "192.0.2.26", "label": "mail.example.com"})
    assert MonitoredAddress.objects.filter(value="192.0.2.26", kind="ipv4").exists()
    assert "192.0.2.26 (mail.example.com)" not in client.get("/monitoring/dnsbl/addresses/").content.decode()


@pytest.mark.parametrize(
    ("url", "data", "kind"),
    [("/monitoring/dnsbl/sweep", {}, "manual"), ("/monitoring/dnsbl/check/", {"targets": "192.0.2.9"}, "check")],
)
def test_an_unreachable_broker_leaves_the_sweep_queued_and_says_so(
    client, login, it_staff, transactional_db, monkeypatch, url, data, kind
):
    # Celery reads CELERY_BROKER_URL from the environment before its configuration; nothing listens on port 1.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    login(client, it_staff)
    response = client.post(url, data, follow=True)  # no outer transaction: the publish runs in the request
    sweep = DnsblSweep.objects.get(kind=kind)
    assert sweep.state == "queued"  # the tick hands it over again
    text = response.content.decode()
    assert "task queue (the Celery broker) is not reachable" in text
    assert "has started" not in text
    later = sweep.created_at + dnsbl_sweep.RESEND_AFTER + timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        dnsbl_sweep.tick(later)
    sweep.refresh_from_db()
    assert sweep.state == "queued"  # still waiting, never shown as a result


def test_publishing_a_sweep_tries_a_dead_broker_once(monkeypatch, db):
    """A broker that takes connections and drops them: the view's publish gives up at once instead of retrying."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    connections = []

    def accept() -> None:
        while True:
            try:
                peer, _ = listener.accept()
            except OSError:
                return
            connections.append(peer)
            peer.close()

    threading.Thread(target=accept, daemon=True).start()
    monkeypatch.setenv("CELERY_BROKER_URL", f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    sweep = DnsblSweep.objects.create(kind="manual")
    try:
        assert dnsbl_sweep._send(sweep.pk) is False
    finally:
        listener.close()
    assert 1 <= len(connections) <= 2  # kombu's default policy retries the connection for seconds


def test_a_check_no_list_answered_is_not_shown_as_clean(client, login, it_staff, dns_server, dnsbl_catalogue):
    dnsbl_catalogue({"zone": "silent.test"})
    dns_server([ip_zone("silent.test", mode="silent")])
    sweep = DnsblSweep.objects.create(kind="check", targets=["192.0.2.9"])
    dnsbl_sweep.run_sweep(sweep.pk)
    login(client, it_staff)
    page = client.get(f"/monitoring/dnsbl/check/{sweep.pk}/").content.decode()
    assert "Not fully checked" in page and "no working list answered for 192.0.2.9" in page
    assert "Not listed on any healthy list" not in page and ">Not listed<" not in page


def test_a_list_key_that_cannot_be_a_dns_label_is_refused(client, login, it_staff, catalogue):
    login(client, it_staff)
    zone = DnsblZone.objects.get(zone="combined.mail.abusix.zone")
    data = {"name": zone.name, "zone": zone.zone, "kind": "ip", "needs_key": "on", "position": 1}
    for bad in ("has space", "dot.ted", "k" * 64):
        response = client.post(f"/monitoring/dnsbl/zones/{zone.pk}/", {**data, "key": bad})
        assert "An access key is up to 63 letters" in response.content.decode()
    zone.refresh_from_db()
    assert zone.key == ""


def test_a_shorter_sweep_interval_takes_effect_now(client, login, it_staff, db):
    with time_machine.travel(T0, tick=False):
        DnsblSchedule.objects.update_or_create(
            pk=1, defaults={"interval_minutes": 1440, "next_run_at": T0 + timedelta(hours=23)}
        )
        login(client, it_staff)
        client.post("/monitoring/dnsbl/schedule", {"interval_minutes": "30"})
    schedule = DnsblSchedule.load()
    assert schedule.interval_minutes == 30
    assert schedule.next_run_at == T0 + timedelta(minutes=30)
