from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from policies import library
from policies.models import Campaign, Policy, Procedure

pytestmark = pytest.mark.django_db


def test_the_demo_publishes_the_starter_library_once():
    call_command("demo", password="demo password 123", stdout=StringIO())
    call_command("demo", password="demo password 123", stdout=StringIO())
    assert Policy.objects.filter(state=Policy.State.PUBLISHED).count() == len(library.POLICIES)
    assert Procedure.objects.count() == len(library.PROCEDURES)
    assert set(Campaign.objects.values_list("kind", flat=True)) == {"awareness", "attestation"}
    assert all(c.next_run_at is not None for c in Campaign.objects.all())
    device_check = Campaign.objects.get(kind="attestation")
    assert device_check.statements.count() == 3


def test_the_starter_library_covers_the_papers_advice():
    text = " ".join(entry.title + entry.body for entry in library.POLICIES).lower()
    for topic in ["https", "webmail", "smtp authentication", "one-time", "updates", "antivirus",
                  "unapproved software", "trojan", "phishing", "block list", "report"]:  # fmt: skip
        assert topic in text, topic
    procedures = " ".join(p.title for p in library.PROCEDURES).lower()
    for topic in ["isp address", "patching", "bandwidth", "patch status", "policies"]:
        assert topic in procedures, topic


def test_the_home_page_shows_what_waits(client, login, employee, it_staff, make_policy):
    make_policy("Remote access")
    login(client, employee)
    body = client.get("/").content.decode()
    assert "waiting for you to read" in body and "Remote access" in body
    assert "more</a>" not in body
    for title in ("Passwords", "Phishing", "Laptops"):
        make_policy(title)
    body = client.get("/").content.decode()
    assert '<span class="big-number">4</span>' in body and 'and <a href="/policies/">1 more</a>' in body
    login(client, it_staff)
    body = client.get("/").content.decode()
    assert "Reviews and procedures" in body and "Executive summary" in body
