"""The load tick in real Celery worker processes (Redis): rates work across processes, drift runs there too."""

from __future__ import annotations

import os

import pytest
from django.utils import timezone

from monitoring.serverload.models import DriftCheck, LoadSample, LoadSettings, LoadState
from tests.services import wait_until

pytestmark = pytest.mark.integration


def test_a_sample_uses_the_counters_another_worker_process_stored(celery_worker_factory, celery_app, tmp_path):
    from monitoring.serverload.tasks import load_tick

    LoadSettings.objects.update_or_create(
        pk=1, defaults={"watched_files": str(tmp_path / "main.cf"), "line_download_mbps": 100}
    )
    first = celery_worker_factory(concurrency=1)
    load_tick.delay()
    wait_until(lambda: LoadState.objects.filter(previous__has_key="cores").exists())
    baseline_pid = LoadState.objects.get().previous["pid"]
    assert LoadSample.objects.count() == 0  # the first reading is only the baseline
    assert DriftCheck.objects.filter(status="done").exists()  # the scheduled drift check ran in the tick
    first.stop()

    celery_worker_factory(concurrency=1)  # a new process: psutil's in-process memory is gone
    LoadSettings.objects.update(next_sample_at=timezone.now())
    load_tick.delay()
    wait_until(lambda: LoadSample.objects.exists())

    sample = LoadSample.objects.get()
    assert LoadState.objects.get().previous["pid"] not in {baseline_pid, os.getpid()}
    assert 0 <= sample.cpu <= 100 and sample.net_in >= 0 and sample.net_in_pct is not None
    assert len(sample.cpu_per_core) == len(LoadState.objects.get().previous["cores"])
