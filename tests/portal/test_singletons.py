"""The one-row models: one accessor, one row, and field writes that never undo each other."""

from __future__ import annotations

import pytest

from accounts.models import DeviceSettings, MailAuthState, OrganisationSettings
from monitoring.dnsbl.models import DnsblSchedule
from monitoring.sending.models import SendingSettings, SendingState
from monitoring.serverload.models import LoadSettings, LoadState
from policies.models import PolicySettings
from portal.singletons import Singleton

pytestmark = pytest.mark.django_db

SINGLETONS = [
    OrganisationSettings,
    MailAuthState,
    DeviceSettings,
    PolicySettings,
    LoadSettings,
    LoadState,
    DnsblSchedule,
    SendingSettings,
    SendingState,
]


def test_every_one_row_model_is_a_singleton():
    from django.apps import apps

    one_row = {model for model in apps.get_models() if issubclass(model, Singleton)}
    assert one_row == set(SINGLETONS)


@pytest.mark.parametrize("model", SINGLETONS)
def test_load_creates_the_row_once_with_its_defaults(model):
    first = model.load()
    assert first.pk == 1
    assert model.load() == first
    assert model.objects.count() == 1


def test_saving_a_new_instance_writes_the_one_row():
    PolicySettings.load()
    PolicySettings(send_max_tries=9).save()
    assert PolicySettings.objects.count() == 1
    assert PolicySettings.load().send_max_tries == 9


def test_store_writes_only_the_named_fields():
    stale = LoadState.load()
    LoadState.store(last_error="disk read failed")
    stale.previous_at = None
    LoadState.store(disk_forecast=[{"mount": "/"}])
    row = LoadState.load()
    assert (row.last_error, row.disk_forecast) == ("disk read failed", [{"mount": "/"}])


def test_store_creates_the_row_when_missing():
    LoadState.store(last_error="first")
    assert LoadState.load().last_error == "first"
