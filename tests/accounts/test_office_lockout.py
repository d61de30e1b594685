"""An office behind one address: one person's mistakes never lock out the others (issue 14, item 7).

Five people sign in through nginx from the office's one public address. One mistypes ten times; the
others sign in (password and code) as usual, never see an error they have not earned, and a person who
is asked for the picture characters is told plainly what to do.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from captcha.models import CaptchaStore
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import OrganisationSettings
from accounts.roles import Role
from tests.conftest import PASSWORD, totp_code

NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
OFFICE = "203.0.113.50"
NGINX = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": OFFICE}


@pytest.fixture
def office(make_user):
    people = [
        make_user(f"{name}@example.com", role=Role.EXECUTIVE if name == "ceo" else Role.EMPLOYEE)
        for name in ("mia", "ceo", "noah", "lena", "omar")
    ]
    for person in people:
        TOTPDevice.objects.create(user=person, name="Phone", confirmed=True)
    return people


def sign_in_form(browser: Client):
    return browser.get(reverse("login"), **NGINX)


def picture(page: str) -> dict:
    match = re.search(r'name="captcha_0" value="([0-9a-f]+)"', page)
    return {"captcha_0": match.group(1), "captcha_1": CaptchaStore.objects.get(hashkey=match.group(1)).response}


def try_password(browser: Client, email: str, password: str, page: str | None = None):
    """Fill in the form on ``page`` (the one the last answer showed), or a freshly opened one."""
    page = page if page is not None else sign_in_form(browser).content.decode()
    data = {"username": email, "password": password, **(picture(page) if "captcha_0" in page else {})}
    return browser.post(reverse("login"), data, **NGINX)


def signs_in(person, at: datetime, *, own_failures: bool = False) -> None:
    """A person who makes no mistake: a fresh form without errors, password, then the code from the phone.

    Someone whose own account had failures is asked for the picture once the form knows who they are.
    """
    browser = Client()
    with time_machine.travel(at, tick=False):
        page = sign_in_form(browser).content.decode()
        assert "alert-error" not in page and "This field is required" not in page, person.email
        if "captcha_0" in page:
            assert "Type them to continue" in page  # told plainly why and what to do
        response = try_password(browser, person.email, PASSWORD, page)
        if own_failures and response.status_code == 200:
            page = response.content.decode()
            assert "Type the characters in the picture to continue" in page and "alert-error" not in page
            response = try_password(browser, person.email, PASSWORD, page)
        assert response.status_code == 302, (person.email, response.content.decode()[:2000])
        code = totp_code(TOTPDevice.objects.get(user=person))
        assert browser.post(reverse("otp_verify"), {"code": code}, **NGINX)["Location"] == reverse("home")
        assert browser.get(reverse("home"), **NGINX).status_code == 200


def mistype_ten_times(person) -> datetime:
    """Ten wrong passwords, each as soon as the portal allows (it says how long to wait)."""
    browser, at, page = Client(), NOW, None
    for _ in range(10):
        with time_machine.travel(at, tick=False):
            response = try_password(browser, person.email, "wrong password!", page)
        page = response.content.decode()
        assert "Email address or password is not correct" in page
        assert "locked" not in page
        wait = re.search(r"Wait (\d+) seconds?", page)
        at += timedelta(seconds=int(wait.group(1)) if wait else 0)
    return at


def test_one_person_mistyping_ten_times_locks_out_nobody(postgres, office):
    mia, *others = office
    done = mistype_ten_times(mia)
    with time_machine.travel(done, tick=False):
        assert 'name="captcha_0"' not in sign_in_form(Client()).content.decode()  # the others are not bothered
    for n, person in enumerate(others):
        signs_in(person, done + timedelta(seconds=n))
    # Mia herself is slowed down, not locked: after the wait she signs in too.
    signs_in(mia, done + timedelta(minutes=1), own_failures=True)


def test_many_failures_from_the_office_ask_everyone_for_a_picture_and_nothing_more(postgres, office):
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"network_captcha_after": 5})
    mia, ceo, *others = office
    done = mistype_ten_times(mia)
    with time_machine.travel(done, tick=False):
        page = sign_in_form(Client()).content.decode()
    assert 'name="captcha_0"' in page and "Several sign-ins from your network failed recently" in page
    for n, person in enumerate([ceo, *others]):
        signs_in(person, done + timedelta(seconds=n))


def test_a_form_opened_before_the_picture_was_needed_asks_for_it_without_an_error(postgres, office):
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"network_captcha_after": 5})
    mia, ceo, *_ = office
    browser = Client()
    with time_machine.travel(NOW, tick=False):
        assert "captcha_0" not in sign_in_form(browser).content.decode()  # the CEO opens the form ...
    done = mistype_ten_times(mia)  # ... meanwhile Mia mistypes ...
    with time_machine.travel(done, tick=False):
        data = {"username": ceo.email, "password": PASSWORD}
        response = browser.post(reverse("login"), data, **NGINX)  # ... and the CEO sends the old form.
        page = response.content.decode()
        assert response.status_code == 200 and "alert-error" not in page and "This field is required" not in page
        assert "Type them to continue" in page and f'value="{ceo.email}"' in page
        response = browser.post(reverse("login"), {**data, **picture(page)}, **NGINX)
    assert response.status_code == 302 and response["Location"].startswith(reverse("otp_verify"))
