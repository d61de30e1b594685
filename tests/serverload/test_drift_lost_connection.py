"""A drift check whose database connection is cut halfway goes back to "waiting" for the next tick (15 s),
not "running" for ``STUCK_AFTER``."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from monitoring.serverload import drift
from monitoring.serverload.models import DriftCheck, LoadSettings
from tests.lostconnection import cut_connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def watched(tmp_path):
    (tmp_path / "main.cf").write_text("myhostname = mail.example.com\n")
    LoadSettings.objects.update_or_create(pk=1, defaults={"watched_files": str(tmp_path / "main.cf")})
    return tmp_path


def test_a_check_cut_off_from_the_database_runs_again_at_the_next_tick(postgres, watched, monkeypatch):
    requested = DriftCheck.objects.create(trigger=DriftCheck.Trigger.PATCHED)
    networks = drift.drift_rules.local_networks

    def cut_then_read():  # after the files were read, before the findings are written
        cut_connection()
        return networks()

    monkeypatch.setattr(drift.drift_rules, "local_networks", cut_then_read)
    with pytest.raises(OperationalError):
        drift.claim_and_run(requested.pk)
    requested.refresh_from_db()
    assert requested.status == DriftCheck.Status.PENDING

    monkeypatch.setattr(drift.drift_rules, "local_networks", networks)
    LoadSettings.objects.update(next_drift_check_at=drift.timezone.now() + drift.timedelta(hours=1))
    [result] = drift.run_due()
    assert result.check.pk == requested.pk
    requested.refresh_from_db()
    assert requested.status == DriftCheck.Status.DONE
