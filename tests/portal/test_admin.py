"""The admin's shared shapes: read-only records and one-row settings, wherever an app registers them."""

from __future__ import annotations

import pytest
from django.contrib import admin

from portal.admin import ReadOnlyAdminMixin, SingletonAdmin

pytestmark = pytest.mark.django_db

READ_ONLY = sorted(
    (
        model._meta.label_lower
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, ReadOnlyAdminMixin)
    )
)
SINGLETONS = sorted(
    (
        model._meta.label_lower
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, SingletonAdmin)
    )
)


def _url(label: str, view: str) -> str:
    return "/admin/{}/{}/{}".format(*label.split("."), view)


def test_the_read_only_records_of_every_app_use_the_one_mixin():
    assert {label.split(".")[0] for label in READ_ONLY} >= {"accounts", "policies", "portal", "dnsbl", "serverload"}


@pytest.mark.parametrize("label", READ_ONLY)
def test_a_read_only_record_is_listed_and_never_added(client, login, it_staff, label):
    login(client, it_staff)
    assert client.get(_url(label, "")).status_code == 200
    assert client.get(_url(label, "add/")).status_code == 403


@pytest.mark.parametrize("label", SINGLETONS)
def test_a_singleton_is_edited_never_added_twice(client, login, it_staff, label):
    from django.apps import apps

    login(client, it_staff)
    row = apps.get_model(label).load()
    assert client.get(_url(label, "add/")).status_code == 403
    assert client.get(_url(label, f"{row.pk}/change/")).status_code == 200
    assert client.post(_url(label, f"{row.pk}/delete/"), {"post": "yes"}).status_code == 403


def test_evidence_is_never_deleted_in_the_admin(client, login, it_staff):
    from accounts.models import AuditEvent

    login(client, it_staff)
    event = AuditEvent.objects.create(action="test.event", actor_email=it_staff.email)
    assert client.post(_url("accounts.auditevent", f"{event.pk}/delete/"), {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
