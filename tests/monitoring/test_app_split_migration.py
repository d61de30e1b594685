"""An install at the one-app schema (``monitoring`` 0003) migrates to ``dnsbl`` + ``serverload`` without losing a row.

The database is taken back to the schema before the split, filled through the historical models
(one row or more in every monitoring table, foreign keys to each other and to a user), migrated
forward, and every row is read again through the new apps' models. It ends migrated to the latest.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import User
from monitoring.dnsbl.models import (
    DnsblResult,
    DnsblSchedule,
    DnsblSweep,
    DnsblZone,
    ListingChange,
    MonitoredAddress,
    SweepZoneHealth,
)
from monitoring.serverload.models import (
    DriftBaseline,
    DriftCheck,
    DriftFinding,
    LoadAlert,
    LoadRollup,
    LoadSample,
    LoadSettings,
    LoadState,
    LoadThreshold,
)

BEFORE_SPLIT = [("monitoring", "0003_dnsbl_catalogue"), ("dnsbl", None), ("serverload", None)]
SPLIT_APPS = {"monitoring", "dnsbl", "serverload"}
AT = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def _migrate_back():
    """Unapply the split; return the historical apps of the whole project at that point."""
    return MigrationExecutor(connection).migrate(BEFORE_SPLIT).apps


def _migrate_to_latest() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()


@pytest.fixture
def split_undone(transactional_db):
    """The database as it was before the split; migrated to the latest again whatever the test does."""
    ContentType.objects.clear_cache()
    try:
        yield _migrate_back()
    finally:
        _migrate_to_latest()


def _fill(apps) -> dict:
    """One row or more per monitoring table, through the historical models; returns their ids."""
    model = lambda name: apps.get_model("monitoring", name)  # noqa: E731
    user = apps.get_model("accounts", "User").objects.create(email="split@example.com", role="it_staff")
    zone = model("DnsblZone").objects.create(name="Split list", zone="split.example.test", health="healthy")
    address = model("MonitoredAddress").objects.create(value="192.0.2.77", kind="ipv4", label="mail server")
    schedule = model("DnsblSchedule").objects.create(interval_minutes=45, next_run_at=AT)
    sweep = model("DnsblSweep").objects.create(kind="manual", state="done", requested_by=user, created_at=AT)
    health = model("SweepZoneHealth").objects.create(sweep=sweep, zone=zone, zone_name=zone.zone, health="healthy")
    result = model("DnsblResult").objects.create(
        sweep=sweep, monitored=address, address=address.value, zone=zone, zone_name=zone.zone, status="listed"
    )
    change = model("ListingChange").objects.create(
        sweep=sweep, monitored=address, address=address.value, zone=zone, zone_name=zone.zone, current="listed"
    )
    load_settings = model("LoadSettings").objects.create(sample_interval_seconds=120, line_download_mbps=50.0)
    state = model("LoadState").objects.create(last_error="split test")
    sample = model("LoadSample").objects.create(
        taken_at=AT, cpu=12.5, load=3.0, memory=40.0, swap=0.0, disk=55.0,
        disk_read=0.0, disk_write=0.0, net_in=1e6, net_out=2e6, queue=4,
    )  # fmt: skip
    rollup = model("LoadRollup").objects.create(tier="1h", bucket_start=AT, samples=60, cpu_avg=12.5)
    threshold = model("LoadThreshold").objects.create(metric="cpu", warning=81, critical=91, clear=71)
    alert = model("LoadAlert").objects.create(
        metric="cpu", raised_at=AT, above_since=AT, warning_mark=81, critical_mark=91, clear_mark=71,
        value_at_raise=85, peak=88,
    )  # fmt: skip
    baseline = model("DriftBaseline").objects.create(path="/etc/split.cf", sha256="a" * 64, approved_by=user)
    check = model("DriftCheck").objects.create(status="done", requested_by=user, new_findings=1)
    finding = model("DriftFinding").objects.create(
        check_run=check, path="/etc/split.cf", kind="changed", resolved_at=AT, resolved_by=user, resolution="approved"
    )
    rows = {
        "DnsblZone": zone, "MonitoredAddress": address, "DnsblSchedule": schedule, "DnsblSweep": sweep,
        "SweepZoneHealth": health, "DnsblResult": result, "ListingChange": change,
        "LoadSettings": load_settings, "LoadState": state, "LoadSample": sample, "LoadRollup": rollup,
        "LoadThreshold": threshold, "LoadAlert": alert, "DriftBaseline": baseline, "DriftCheck": check,
        "DriftFinding": finding,
    }  # fmt: skip
    # Every table the monitoring app had at that schema has a row here.
    assert set(rows) == {m.__name__ for m in apps.get_app_config("monitoring").get_models()}
    ids = {name: row.pk for name, row in rows.items()}
    ids["user"] = user.pk
    ids["log"] = _admin_history(apps, user, rows)
    return ids


def _admin_history(apps, user, rows: dict) -> dict:
    """Admin log entries on the old content types; the load alert's new content type exists already
    (as when ``post_migrate`` ran between two migrations), with an entry of its own."""
    content_type = apps.get_model("contenttypes", "ContentType").objects
    log = apps.get_model("admin", "LogEntry").objects
    zone_type = content_type.get_or_create(app_label="monitoring", model="dnsblzone")[0]
    alert_type = content_type.get_or_create(app_label="monitoring", model="loadalert")[0]
    early_alert_type = content_type.get_or_create(app_label="serverload", model="loadalert")[0]
    entry = {"user": user, "action_time": AT, "action_flag": 2, "change_message": "[]"}
    return {
        "zone_type": zone_type.pk,
        "alert_type": alert_type.pk,
        "zone": log.create(content_type=zone_type, object_id=str(rows["DnsblZone"].pk), **entry).pk,
        "alert": log.create(content_type=alert_type, object_id=str(rows["LoadAlert"].pk), **entry).pk,
        "early": log.create(content_type=early_alert_type, object_id=str(rows["LoadAlert"].pk), **entry).pk,
    }


def test_every_monitoring_row_is_found_through_the_new_apps(split_undone):
    ids = _fill(split_undone)

    _migrate_to_latest()

    user = User.objects.get(pk=ids["user"])
    zone = DnsblZone.objects.get(pk=ids["DnsblZone"])
    address = MonitoredAddress.objects.get(pk=ids["MonitoredAddress"])
    assert (zone.zone, zone.health, address.value) == ("split.example.test", "healthy", "192.0.2.77")
    assert DnsblSchedule.objects.get(pk=ids["DnsblSchedule"]).interval_minutes == 45
    sweep = DnsblSweep.objects.get(pk=ids["DnsblSweep"])
    assert sweep.requested_by == user and sweep.kind == "manual"
    health = SweepZoneHealth.objects.get(pk=ids["SweepZoneHealth"])
    assert (health.sweep, health.zone) == (sweep, zone)
    assert list(sweep.zone_health.all()) == [health]
    result = DnsblResult.objects.get(pk=ids["DnsblResult"])
    assert (result.sweep, result.monitored, result.zone, result.status) == (sweep, address, zone, "listed")
    assert list(sweep.results.all()) == [result]
    change = ListingChange.objects.get(pk=ids["ListingChange"])
    assert (change.sweep, change.monitored, change.zone, change.current) == (sweep, address, zone, "listed")

    assert LoadSettings.objects.get(pk=ids["LoadSettings"]).line_download_mbps == 50.0
    assert LoadState.objects.get(pk=ids["LoadState"]).last_error == "split test"
    assert LoadSample.objects.get(pk=ids["LoadSample"]).taken_at == AT
    assert LoadRollup.objects.get(pk=ids["LoadRollup"]).cpu_avg == 12.5
    assert LoadThreshold.objects.get(pk=ids["LoadThreshold"]).warning == 81
    assert LoadAlert.objects.get(pk=ids["LoadAlert"]).peak == 88
    assert DriftBaseline.objects.get(pk=ids["DriftBaseline"]).approved_by == user
    check = DriftCheck.objects.get(pk=ids["DriftCheck"])
    assert check.requested_by == user
    finding = DriftFinding.objects.get(pk=ids["DriftFinding"])
    assert (finding.check_run, finding.resolved_by) == (check, user)
    assert list(check.findings.all()) == [finding]

    # Deleting through the new models still cascades along the old foreign keys.
    address.delete()
    assert not DnsblResult.objects.filter(pk=ids["DnsblResult"]).exists()
    assert not ListingChange.objects.filter(pk=ids["ListingChange"]).exists()


def test_admin_history_follows_the_models_to_their_new_apps(split_undone):
    ids = _fill(split_undone)

    _migrate_to_latest()

    zone_type = ContentType.objects.get_for_model(DnsblZone)
    alert_type = ContentType.objects.get_for_model(LoadAlert)
    # The old rows were renamed (same ids), so permissions and log entries kept their targets.
    assert (zone_type.pk, zone_type.app_label) == (ids["log"]["zone_type"], "dnsbl")
    assert (alert_type.pk, alert_type.app_label) == (ids["log"]["alert_type"], "serverload")
    zone, alert = DnsblZone.objects.get(pk=ids["DnsblZone"]), LoadAlert.objects.get(pk=ids["LoadAlert"])
    assert LogEntry.objects.get(pk=ids["log"]["zone"]).get_edited_object() == zone
    assert LogEntry.objects.get(pk=ids["log"]["alert"]).get_edited_object() == alert
    assert LogEntry.objects.get(pk=ids["log"]["early"]).get_edited_object() == alert
    assert not ContentType.objects.filter(app_label="monitoring").exists()


def test_the_split_creates_and_drops_no_table_either_way(split_undone):
    """Forward from 0003 and backward again leave no table behind and none missing (the split's own
    migrations; a table a later migration adds is that migration's)."""
    tables = set(connection.introspection.table_names())
    MigrationExecutor(connection).migrate([("dnsbl", "0001_initial"), ("serverload", "0001_initial")])
    assert set(connection.introspection.table_names()) == tables
    _migrate_back()
    assert set(connection.introspection.table_names()) == tables
