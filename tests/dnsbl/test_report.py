"""The dashboard's summary sentence: plain, never 'clean' for what was not checked."""

from __future__ import annotations

from monitoring.dnsbl.models import DnsblResult, DnsblSweep, DnsblZone
from monitoring.dnsbl.report import summarise


def zones(**health_counts: int) -> list[DnsblZone]:
    made = []
    for health, count in health_counts.items():
        made += [
            DnsblZone(zone=f"{health}{n}.test", health=health.replace("_", "-"), enabled=True) for n in range(count)
        ]
    return made


def sweep(total: int = 10) -> DnsblSweep:
    return DnsblSweep(kind="scheduled", state="done", total=total)


def test_no_working_list_is_said_plainly_with_what_to_do():
    summary = summarise(sweep(), zones(unreachable=17), [], None)
    assert summary.status == "unknown"  # monitoring is blind: not a listing, not clean
    assert summary.text == (
        "No list could be checked: all 17 lists are unreachable from this server's resolver"
        " — check DNSBL_NAMESERVERS and the network."
    )
    assert "(s)" not in summary.text and "Clean" not in summary.text


def test_no_working_list_because_they_refuse_us_says_so():
    summary = summarise(sweep(), zones(refused=2, unreachable=1), [], None)
    assert summary.status == "unknown"  # monitoring is blind: not a listing, not clean
    assert summary.text.startswith("No list could be checked: 2 refuse our queries, 1 unreachable")
    assert "local recursive resolver" in summary.text
    summary = summarise(sweep(), zones(not_listing_test_entry=1), [], None)
    assert summary.text == "No list could be checked: 1 not listing their test entry — see the list health table."


def test_every_list_missing_its_test_entry_points_at_the_resolver():
    # A resolver without internet access (or a filtering one) answers NXDOMAIN for everything.
    summary = summarise(sweep(), zones(not_listing_test_entry=17), [], None)
    assert summary.status == "unknown"
    assert summary.text.startswith("No list could be checked: all 17 lists answer 'not listed' even for their test")
    assert "check DNSBL_NAMESERVERS" in summary.text


def test_lists_not_working_are_counted_in_words():
    summary = summarise(sweep(), zones(healthy=2, unreachable=1), [], None)
    assert summary.text == "Clean on 2 of 2 working lists; 1 list is not working (unreachable)."
    summary = summarise(sweep(), zones(healthy=2, unreachable=1, lists_everything=1), [], None)
    assert summary.text == "Clean on 2 of 2 working lists; 2 lists are not working (1 unreachable, 1 lists-everything)."


def test_a_working_list_without_a_usable_answer_is_not_counted_as_clean():
    found = zones(healthy=3)
    results = [DnsblResult(address="192.0.2.25", zone_name=found[0].zone, status="unknown")]
    summary = summarise(sweep(), found, results, None)
    assert summary.status == "warning"
    assert summary.text == "Clean on 2 of 3 working lists; 1 gave no usable answer (timeout or refusal)."


def test_a_sweep_that_checked_nothing_is_not_clean():
    summary = summarise(sweep(total=0), zones(healthy=3), [], None)
    assert summary.status == "unknown"
    assert "Clean" not in summary.text and "no address or domain is monitored" in summary.text


def test_the_status_line_gives_when_the_current_listing_began(db, django_assert_max_num_queries):
    from datetime import UTC, datetime, timedelta

    import time_machine

    from monitoring.dnsbl.models import ListingChange, MonitoredAddress
    from monitoring.dnsbl.report import status_line

    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    a = DnsblZone.objects.create(zone="a.test", health="healthy")
    b = DnsblZone.objects.create(zone="b.test", health="healthy")
    ours = MonitoredAddress.objects.create(value="192.0.2.25")
    for zone, current, hours in [(a, "listed", 0), (b, "listed", 1), (b, "clean", 2)]:
        ListingChange.objects.create(
            monitored=ours, address=ours.value, zone=zone, zone_name=zone.zone, current=current,
            changed_at=t0 + timedelta(hours=hours),
        )  # fmt: skip
    done = DnsblSweep.objects.create(kind="scheduled", state="done", total=2)
    DnsblResult.objects.create(
        sweep=done, monitored=ours, address=ours.value, zone=a, zone_name="a.test", status="listed"
    )
    DnsblResult.objects.create(
        sweep=done, monitored=ours, address=ours.value, zone=b, zone_name="b.test", status="clean"
    )
    with time_machine.travel(t0 + timedelta(hours=3), tick=False), django_assert_max_num_queries(4):
        line = status_line()
    assert line.text == "Clean on 1 of 2 working lists; listed on a.test since 09:00."  # not b.test's 10:00


# --- Most lists failing at once: the cause and the fix ---------------------------------------------------


def diagnosis(schedule=None, **health_counts: int):
    from monitoring.dnsbl.diagnosis import diagnose
    from monitoring.dnsbl.models import DnsblSchedule

    return diagnose(zones(**health_counts), schedule or DnsblSchedule(resolver="127.0.0.53"))


def test_a_few_failing_lists_are_the_lists_problem_not_ours():
    assert diagnosis(healthy=15, unreachable=2) is None
    assert diagnosis(healthy=2, unreachable=2) is None  # half is not most
    assert diagnosis(unreachable=1) is None  # one list is that list's problem
    assert diagnosis(unchecked=17) is None  # nothing checked yet


def test_a_resolver_that_cannot_get_out_is_named_with_the_fix():
    found = diagnosis(healthy=0, not_listing_test_entry=14, unreachable=3)
    assert found.headline == "17 of 17 lists failed their health check at once."
    assert found.cause.startswith("this server's resolver (127.0.0.53) cannot reach the lists: 14 lists answered")
    assert "3 lists did not answer" in found.cause
    assert "port 53" in found.fix and "DNSBL_NAMESERVERS=127.0.0.1" in found.fix


def test_refusals_and_public_resolvers_point_at_a_local_resolver():
    from monitoring.dnsbl.models import DnsblSchedule

    found = diagnosis(healthy=3, refused=12)
    assert "refuse queries that come through this server's resolver" in found.cause
    public = DnsblSchedule(resolver="8.8.8.8", resolver_is_public=True)
    found = diagnosis(public, healthy=3, unreachable=10)
    assert "(8.8.8.8)" in found.cause and "public resolvers" in found.cause


def test_a_rewriting_resolver_is_named():
    from monitoring.dnsbl.models import DnsblSchedule

    found = diagnosis(DnsblSchedule(resolver_rewrites_nxdomain=True), lists_everything=9, healthy=1)
    assert "rewrites" in found.cause and "passes answers on unchanged" in found.fix


def test_a_mix_of_silent_and_not_listing_lists_points_at_the_resolver_in_the_status_text():
    summary = summarise(sweep(), zones(not_listing_test_entry=14, unreachable=3), [], None)
    assert summary.text == (
        "No list could be checked: 14 answer 'not listed' even for their test entries and 3 do not answer, so"
        " this server's resolver probably cannot reach them — check DNSBL_NAMESERVERS and the network."
    )


def test_the_sweep_alert_carries_the_cause_and_the_fix(db, it_staff, sent_mail, dnsbl_catalogue):
    from monitoring.dnsbl.emails import send_sweep_alert

    dnsbl_catalogue(*({"zone": f"l{n}.test", "health": "unreachable"} for n in range(4)))
    done = DnsblSweep.objects.create(kind="scheduled", state="done", total=4)
    send_sweep_alert(done, ["l0.test (l0.test): unreachable - timeout"])
    [mail] = sent_mail
    assert "4 of 4 lists failed their health check at once." in mail.body
    assert "Likely cause: this server's resolver" in mail.body and "Fix: Check that this server" in mail.body
