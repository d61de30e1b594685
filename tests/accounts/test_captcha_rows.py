"""CAPTCHA pictures are rows that anonymous visitors create: they expire, and one network gets only so many."""

from __future__ import annotations

from datetime import timedelta

from captcha.models import CaptchaStore
from django.urls import reverse
from django.utils import timezone

from accounts import captcha_pictures
from accounts.models import OrganisationSettings
from accounts.tasks import run_tick

XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


def test_expired_pictures_are_deleted_by_the_accounts_tick(db):
    fresh = CaptchaStore.generate_key()
    old = CaptchaStore.generate_key()
    CaptchaStore.objects.filter(hashkey=old).update(expiration=timezone.now() - timedelta(seconds=1))
    assert run_tick()["captchas_pruned"] == 1
    assert list(CaptchaStore.objects.values_list("hashkey", flat=True)) == [fresh]


def test_anonymous_refreshes_are_limited_per_network(client, db, monkeypatch):
    monkeypatch.setattr(captcha_pictures, "PICTURES_PER_MINUTE", 12)
    answers = [
        client.get(reverse("captcha_refresh"), REMOTE_ADDR=f"198.51.100.{n % 200}", **XHR)
        for n in range(captcha_pictures.PICTURES_PER_MINUTE + 10)
    ]
    assert [a.status_code for a in answers].count(200) == captcha_pictures.PICTURES_PER_MINUTE
    assert answers[-1].status_code == 429 and "Wait a minute" in answers[-1].json()["error"]
    assert CaptchaStore.objects.count() == captcha_pictures.PICTURES_PER_MINUTE
    # The package's own URL name (its widget's) leads to the same limited view.
    assert reverse("captcha-refresh") == reverse("captcha_refresh")
    # Another network is not affected.
    assert client.get(reverse("captcha_refresh"), REMOTE_ADDR="203.0.113.1", **XHR).status_code == 200


def test_the_sign_in_page_stops_drawing_pictures_for_a_network_that_asks_for_hundreds(client, db, monkeypatch):
    monkeypatch.setattr(captcha_pictures, "PICTURES_PER_MINUTE", 12)
    OrganisationSettings.objects.update_or_create(pk=1, defaults={"network_captcha_after": 2})
    from accounts import lockout
    from accounts.models import SignInFailure

    for n in range(2):
        lockout.record_failure(f"x{n}@example.com", "192.0.2.9", SignInFailure.PASSWORD)
    pages = [
        client.get(reverse("login"), REMOTE_ADDR="192.0.2.9") for _ in range(captcha_pictures.PICTURES_PER_MINUTE + 5)
    ]
    assert [p.status_code for p in pages].count(200) == captcha_pictures.PICTURES_PER_MINUTE
    assert pages[-1].status_code == 429 and "Too many sign-in pictures" in pages[-1].content.decode()
    assert CaptchaStore.objects.count() == captcha_pictures.PICTURES_PER_MINUTE
