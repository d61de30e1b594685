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
