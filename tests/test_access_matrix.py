"""Every named URL x every kind of visitor -> the expected outcome.

The table is the single decision of who may open what. ``test_every_url_has_a_row``
walks the URL configuration, so a new page without a row fails the suite.

Outcomes: an HTTP status (200, 401, 403, 404, 405) or LOGIN (a redirect to the
sign-in page). Rows whose URL needs an object give a ``kwargs`` factory that
creates one and returns the URL's arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

LOGIN = "login"
ANON, EMPLOYEE, EXECUTIVE, IT = "anonymous", "employee", "executive", "it_staff"
VISITORS = [ANON, EMPLOYEE, EXECUTIVE, IT]


@dataclass
class Row:
    anonymous: int | str
    employee: int | str
    executive: int | str
    it_staff: int | str
    kwargs: Callable[[], dict] | None = None
    method: str = "get"
    data: dict = field(default_factory=dict)

    def expected(self, visitor: str) -> int | str:
        return getattr(self, visitor)


def everyone(outcome: int | str, **extra) -> Row:
    return Row(outcome, outcome, outcome, outcome, **extra)


def signed_in(outcome: int | str = 200, **extra) -> Row:
    return Row(LOGIN, outcome, outcome, outcome, **extra)


def it_only(**extra) -> Row:
    return Row(LOGIN, 403, 403, 200, **extra)


def summary_readers(**extra) -> Row:
    return Row(LOGIN, 403, 200, 200, **extra)


def _webmail_user():
    from accounts.models import User

    return User.objects.get_or_create(email="wendy@example.com")[0]


def _webmail_session():
    from django.utils import timezone

    from accounts.models import WebmailSession

    return WebmailSession.objects.create(user=_webmail_user(), session_key="k" * 32, otp_verified_at=timezone.now())


MATRIX: dict[str, Row] = {
    # --- portal ---------------------------------------------------------------
    "home": signed_in(),
    "healthz": everyone(503),  # no worker or beat in this test: 503 names them
    # --- accounts ---------------------------------------------------------------
    "login": Row(200, 302, 302, 302),
    "logout": Row(405, 405, 405, 405),
    "otp_verify": everyone(302),  # no password step pending: back to sign-in; verified: on to home
    "reauth": signed_in(),
    "password_reset": everyone(200),
    "password_reset_done": everyone(200),
    "password_reset_confirm": everyone(200, kwargs=lambda: {"uidb64": "MQ", "token": "set-password"}),
    "password_reset_complete": everyone(200),
    "password_change": signed_in(),
    "invitation_accept": everyone(200, kwargs=lambda: _accounts_invitation()[1]),
    "captcha-image": everyone(200, kwargs=lambda: _captcha_key()),
    "captcha-image-2x": everyone(200, kwargs=lambda: _captcha_key()),
    "captcha-audio": everyone(404, kwargs=lambda: _captcha_key()),  # no speech synthesiser configured
    "captcha-refresh": everyone(404),  # answers only XMLHttpRequest
    "captcha_refresh": everyone(404),  # the same path: the portal's limit per network in front of the package
    "otp_tokens": signed_in(),
    "otp_enrol": signed_in(),
    "otp_enrol_scan": signed_in(302),  # no enrolment started: back to its first step
    "otp_enrol_confirm": signed_in(302),
    "otp_enrol_done": signed_in(),
    "otp_token_remove": signed_in(404, method="post", kwargs=lambda: {"pk": _accounts_other_token()}),
    "otp_backup_codes": signed_in(),
    "otp_backup_codes_download": signed_in(404),  # codes are downloadable only right after they are made
    "otp_backup_codes_regenerate": signed_in(302, method="post"),
    # own devices (their app passwords and certificates); someone else's is a 404 for everyone but IT staff,
    # who set up devices for people
    "devices": signed_in(),
    "device_create": signed_in(),
    "device_detail": Row(LOGIN, 404, 404, 200, kwargs=lambda: {"pk": _accounts_device().pk}),
    "device_revoke": Row(LOGIN, 404, 404, 302, method="post", kwargs=lambda: {"pk": _accounts_device().pk}),
    "device_certificate": Row(LOGIN, 404, 404, 200, kwargs=lambda: {"pk": _accounts_device().pk}),
    "device_certificate_issue": Row(LOGIN, 404, 404, 302, method="post", kwargs=lambda: {"pk": _accounts_device().pk}),
    # the file is given out once, in the session that issued it
    "device_certificate_download": signed_in(404, kwargs=lambda: {"pk": _accounts_device().pk}),
    "device_profile": signed_in(404, kwargs=lambda: {"pk": _accounts_device().pk}),
    "app_password_create": signed_in(404, kwargs=lambda: {"pk": _accounts_device().pk}),
    "app_password_setup": signed_in(404, kwargs=lambda: {"pk": _accounts_app_password().pk}),
    "app_password_revoke": signed_in(404, method="post", kwargs=lambda: {"pk": _accounts_app_password().pk}),
    # the devices CA: its certificates and CRLs are public, like any CA's; IT staff manage it
    "device_ca_certificates": everyone(200, kwargs=lambda: _device_ca() and {}),
    "device_ca_crls": everyone(200, kwargs=lambda: _device_ca() and {}),
    "device_ca_crl": everyone(200, kwargs=lambda: {"pk": _device_ca().pk}),
    "device_ca": it_only(),
    "device_ca_rotate": Row(LOGIN, 403, 403, 302, method="post"),
    "device_ca_retire": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _device_ca().pk}),
    "all_devices": it_only(),
    "device_settings": it_only(),
    "user_device_create": it_only(kwargs=lambda: {"pk": _accounts_person().pk}),
    # Thunderbird autoconfig: public facts about the mail server, for the organisation's domains
    "autoconfig": everyone(200, kwargs=lambda: _accounts_person() and {}, data={"emailaddress": "x@example.com"}),
    "autoconfig_well_known": everyone(
        200, kwargs=lambda: _accounts_person() and {}, data={"emailaddress": "x@example.com"}
    ),
    "users": it_only(),
    "user_create": it_only(),
    "users_import": it_only(),
    "user_detail": it_only(kwargs=lambda: {"pk": _accounts_person().pk}),
    "user_reset_tokens": it_only(kwargs=lambda: {"pk": _accounts_person().pk}),
    "user_invite": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _accounts_person().pk}),
    "user_app_password_revoke": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: _accounts_person_password()),
    "user_app_passwords_revoke": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _accounts_person().pk}),
    "user_app_passwords_reinstate": Row(
        LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _accounts_person().pk}
    ),
    "invitations": it_only(),
    "invitation_revoke": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _accounts_invitation()[0]}),
    "otp_coverage": it_only(),
    "otp_coverage_csv": it_only(),
    "lockouts": it_only(),
    "lockout_lift": Row(LOGIN, 403, 403, 302, method="post", data={"kind": "account", "value": "x@example.com"}),
    "sign_in_settings": it_only(),
    "audit_log": it_only(),
    "audit_log_csv": it_only(),
    # gateway (webmail behind nginx auth_request): 401, never a redirect; every role by default (GATEWAY_ROLES)
    "gateway_auth": Row(401, 200, 200, 200),
    "gateway_signin": Row(LOGIN, 302, 302, 302),  # signed in and verified: straight on to the portal
    "gateway_sessions": it_only(),
    "gateway_user_sessions": it_only(kwargs=lambda: {"user_id": _webmail_user().pk}),
    "gateway_session_end": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _webmail_session().pk}),
    # --- policies -----------------------------------------------------------------
    "policies:mine": signed_in(),
    "policies:read": signed_in(kwargs=lambda: {"pk": _policies_published().pk}),
    "policies:acknowledge": signed_in(
        302, method="post", kwargs=lambda: {"pk": _policies_published().pk}, data={"version": "1"}
    ),
    "policies:version": signed_in(kwargs=lambda: {"pk": _policies_published().pk, "number": 1}),
    "policies:diff": signed_in(kwargs=lambda: {"pk": _policies_published().pk}, data={"from": 1, "to": 1}),
    "policies:attest": signed_in(kwargs=lambda: {"pk": _policies_attestation().pk}),
    "policies:manage": it_only(),
    "policies:create": it_only(),
    "policies:edit": it_only(kwargs=lambda: {"pk": _policies_published().pk}),
    "policies:publish": it_only(kwargs=lambda: {"pk": _policies_published().pk}),
    "policies:retire": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _policies_published().pk}),
    "policies:reviewed": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _policies_published().pk}),
    "policies:library": it_only(),
    "policies:adopt": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"key": "one-time-passwords"}),
    "policies:adopt_procedure": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"key": "bandwidth-review"}),
    "policies:reviews": it_only(),
    "policies:campaigns": it_only(),
    "policies:campaign_create": it_only(),
    "policies:campaign": it_only(kwargs=lambda: {"pk": _policies_attestation().pk}),
    "policies:campaign_edit": it_only(kwargs=lambda: {"pk": _policies_attestation().pk}),
    "policies:campaign_send_now": Row(
        LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _policies_attestation().pk}
    ),
    "policies:campaign_retry": Row(
        LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _policies_attestation().pk}
    ),
    "policies:campaign_send_again": Row(
        LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _policies_attestation().pk}
    ),
    "policies:campaign_test": Row(
        LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _policies_attestation().pk}
    ),
    "policies:procedures": it_only(),
    "policies:procedure_create": it_only(),
    "policies:procedure": it_only(kwargs=lambda: {"pk": _policies_procedure().pk}),
    "policies:procedure_edit": it_only(kwargs=lambda: {"pk": _policies_procedure().pk}),
    "policies:summary": summary_readers(),
    "policies:summary_csv": summary_readers(),
    "policies:summary_email": Row(LOGIN, 403, 302, 302, method="post"),
    # the signed link of the monthly email: the token names the person, no sign-in needed
    "policies:summary_unsubscribe": everyone(200, kwargs=lambda: {"token": _summary_unsubscribe_token()}),
    "policies:summary_targets": Row(
        LOGIN, 403, 403, 302, method="post", data={"acknowledged_target": "90", "enrolled_target": "100"}
    ),
    # --- outbox: outgoing messages and alert channels (IT staff) ------------------------
    "outbox:messages": it_only(),
    "outbox:message_retry": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _outbox_failed().pk}),
    "outbox:channels": it_only(),
    "outbox:channel_add": it_only(),
    "outbox:channel_edit": it_only(kwargs=lambda: {"pk": _alert_channel().pk}),
    "outbox:channel_delete": it_only(kwargs=lambda: {"pk": _alert_channel().pk}),
    "outbox:channel_toggle": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _alert_channel().pk}),
    "outbox:channel_test": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _alert_channel().pk}),
    # --- monitoring ---------------------------------------------------------------
    # DNS block lists: executives read the dashboard; IT staff manage lists, addresses and checks.
    "dnsbl:dashboard": summary_readers(),
    "dnsbl:address_history": summary_readers(kwargs=lambda: {"pk": _monitored_address().pk}),
    "dnsbl:sweep_now": Row(LOGIN, 403, 403, 302, method="post"),
    "dnsbl:sweep_status": summary_readers(kwargs=lambda: {"pk": _dnsbl_sweep("manual").pk}),
    "dnsbl:schedule": Row(LOGIN, 403, 403, 302, method="post", data={"interval_minutes": 30}),
    "dnsbl:zones": it_only(),
    "dnsbl:zone_add": it_only(),
    "dnsbl:zone_edit": it_only(kwargs=lambda: {"pk": _dnsbl_zone().pk}),
    "dnsbl:addresses": it_only(),
    "dnsbl:address_toggle": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _monitored_address().pk}),
    "dnsbl:check": it_only(),
    "dnsbl:check_result": it_only(kwargs=lambda: {"pk": _dnsbl_sweep("check").pk}),
    # Server load and configuration drift: executives read; IT staff change settings, check and approve.
    "serverload:dashboard": summary_readers(),
    "serverload:alerts": summary_readers(),
    "serverload:alert": summary_readers(kwargs=lambda: {"pk": _load_alert().pk}),
    "serverload:settings": it_only(),
    "serverload:drift": summary_readers(),
    "serverload:drift_check": Row(LOGIN, 403, 403, 302, method="post"),
    "serverload:drift_finding": it_only(kwargs=lambda: {"pk": _drift_finding().pk}),
    "serverload:drift_approve": Row(
        LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _drift_finding().pk}, data={"note": "Matrix ok."}
    ),
    "serverload:drift_approve_many": Row(LOGIN, 403, 403, 302, method="post", data={"note": "Matrix ok."}),
    # --- monitoring: the sending guard ---------------------------------------------------------
    "sending:dashboard": summary_readers(),
    "sending:top_senders": summary_readers(data={"until": "2026-01-05T10:00:00+00:00", "hours": "3"}),
    "sending:settings": it_only(),
    "sending:person": it_only(kwargs=lambda: {"pk": _accounts_person().pk}),
    "sending:alias_delete": Row(LOGIN, 403, 403, 302, method="post", kwargs=lambda: _sending_alias()),
    "sending:suspend": Row(
        LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _accounts_person().pk}, data={"reason": "Matrix."}
    ),
    "sending:lift": Row(
        LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _accounts_person().pk}, data={"reason": "Matrix."}
    ),
    "sending:shared_mailboxes": it_only(),
    "sending:shared_mailbox": it_only(kwargs=lambda: {"pk": _sending_shared_mailbox().pk}),
    "sending:shared_mailbox_delete": Row(
        LOGIN, 403, 403, 302, method="post", kwargs=lambda: {"pk": _sending_shared_mailbox().pk}
    ),
}


def _sending_alias() -> dict:
    from monitoring.sending.models import SenderAlias

    alias = SenderAlias.objects.get_or_create(user=_accounts_person(), address="matrix-alias@example.com")[0]
    return {"pk": alias.user_id, "alias_pk": alias.pk}


def _sending_shared_mailbox():
    from monitoring.sending.models import SharedMailbox

    return SharedMailbox.objects.get_or_create(address="matrix-shared@example.com")[0]


def _accounts_person():
    from accounts.models import User

    return User.objects.get_or_create(email="matrix-person@example.com")[0]


def _accounts_invitation() -> tuple[int, dict]:
    from accounts import invitations

    invitation, token = invitations.invite(_accounts_person(), actor=None)
    return invitation.pk, {"token": token}


def _summary_unsubscribe_token() -> str:
    from policies.monthly import unsubscribe_token

    return unsubscribe_token(_webmail_user())


def _accounts_other_token() -> int:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=_accounts_person(), name="Someone else's", confirmed=True).pk


def _accounts_app_password():
    from accounts import app_passwords

    return app_passwords.create(_accounts_person(), name="Someone else's laptop", can_read=True, can_send=True).password


def _accounts_device():
    from accounts.models import Device

    return Device.objects.create(user=_accounts_person(), name="Someone else's phone", kind="phone")


def _device_ca():
    from accounts.devices import ca

    authority = ca.active_ca()
    ca.refresh_crls()
    return authority


def _accounts_person_password() -> dict:
    return {"pk": _accounts_person().pk, "password_pk": _accounts_app_password().pk}


def _captcha_key() -> dict:
    from captcha.models import CaptchaStore

    return {"key": CaptchaStore.generate_key()}


def _policies_published():
    from policies.models import Policy

    policy = Policy.objects.create(title="Matrix policy", summary="Short.", body="Body.")
    policy.publish(by=None, require_acknowledgement=True)
    return policy


def _policies_attestation():
    import datetime as dt

    from django.utils import timezone

    from policies.models import Campaign

    campaign = Campaign.objects.create(
        name="Matrix check",
        kind=Campaign.Kind.ATTESTATION,
        subject="Check",
        message="Answer.",
        starts_at=timezone.now() + dt.timedelta(days=1),
    )
    campaign.statements.create(text="My laptop is up to date.")
    return campaign


def _policies_procedure():
    from django.utils import timezone

    from policies.models import Procedure

    procedure = Procedure.objects.create(title="Matrix procedure", next_due_on=timezone.localdate())
    procedure.steps.create(text="Do the thing.")
    return procedure


def _outbox_failed():
    from portal.models import OutboxMessage

    return OutboxMessage.objects.create(
        key="matrix|email", kind="matrix", to=["x@example.com"], subject="Matrix", status="failed"
    )


def _alert_channel():
    from portal.models import AlertChannel

    return AlertChannel.objects.get_or_create(
        name="Matrix channel", defaults={"url": "json://127.0.0.1:9/hook", "severities": ["critical"]}
    )[0]


def _monitored_address():
    from monitoring.dnsbl.models import MonitoredAddress

    return MonitoredAddress.objects.get_or_create(value="192.0.2.25")[0]


def _dnsbl_sweep(kind: str):
    from monitoring.dnsbl.models import DnsblSweep

    return DnsblSweep.objects.create(kind=kind, state="done", targets=["192.0.2.25"])


def _dnsbl_zone():
    from monitoring.dnsbl.models import DnsblZone

    return DnsblZone.objects.get_or_create(zone="bl.example.test", defaults={"name": "Example list"})[0]


def _load_alert():
    from django.utils import timezone

    from monitoring.serverload.models import LoadAlert

    now = timezone.now()
    return LoadAlert.objects.create(
        metric="cpu", raised_at=now, above_since=now, warning_mark=80, critical_mark=90, clear_mark=70,
        value_at_raise=85, peak=85,
    )  # fmt: skip


def _drift_finding():
    from monitoring.serverload.models import DriftCheck, DriftFinding

    check = DriftCheck.objects.create(status="done")
    return DriftFinding.objects.create(
        check_run=check, path="/etc/postfix/main.cf", kind="changed", new_sha256="0" * 64, new_kind="text"
    )


# The Django admin decides access for its own generated URLs (OTP admin site,
# IT staff only); its index stands for all of them here.
ADMIN_ROWS: dict[str, Row] = {
    "admin:index": Row(302, 302, 302, 200),
}
EXCLUDED_NAMESPACES = {"admin"}


def named_urls(resolver: URLResolver | None = None, namespace: str = "") -> set[str]:
    resolver = resolver or get_resolver()
    names = set()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= named_urls(pattern, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(f"{namespace}{pattern.name}")
    return names


def test_every_url_has_a_row() -> None:
    names = {name for name in named_urls() if name.split(":")[0] not in EXCLUDED_NAMESPACES}
    missing = sorted(names - MATRIX.keys())
    assert not missing, f"URLs without an access-matrix row (decide who may open them): {missing}"
    stale = sorted(MATRIX.keys() - names)
    assert not stale, f"access-matrix rows for URLs that no longer exist: {stale}"


def test_unnamed_urls_are_not_allowed() -> None:
    def unnamed(resolver: URLResolver, prefix: str = "") -> list[str]:
        found = []
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace not in EXCLUDED_NAMESPACES:
                    found += unnamed(pattern, prefix + str(pattern.pattern))
            elif not pattern.name:
                found.append(prefix + str(pattern.pattern))
        return found

    assert unnamed(get_resolver()) == []


def test_the_matrix_catches_a_new_url(settings) -> None:
    """The check above really fails when a page is added without a row."""
    import sys
    import types

    from django.http import HttpResponse
    from django.urls import clear_url_caches, path

    module = types.ModuleType("tests._extra_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        *get_resolver().url_patterns,
        path("brand_new_page/", lambda request: HttpResponse("hi"), name="brand_new_page"),
    ]
    sys.modules[module.__name__] = module
    settings.ROOT_URLCONF = module.__name__
    clear_url_caches()
    try:
        with pytest.raises(AssertionError, match="brand_new_page"):
            test_every_url_has_a_row()
    finally:
        del sys.modules[module.__name__]
        clear_url_caches()


def _client_for(visitor: str, client, request, login):
    if visitor == ANON:
        return client
    user = request.getfixturevalue({EMPLOYEE: "employee", EXECUTIVE: "executive", IT: "it_staff"}[visitor])
    login(client, user)
    return client


def _outcome(response) -> int | str:
    if response.status_code in (301, 302):
        location = response.headers["Location"]
        if location.startswith(reverse("login")) and "next=" in location:
            return LOGIN
    return response.status_code


@pytest.mark.parametrize("visitor", VISITORS)
@pytest.mark.parametrize("name", sorted({**MATRIX, **ADMIN_ROWS}))
def test_access(name: str, visitor: str, client, request, login, db) -> None:
    row = {**MATRIX, **ADMIN_ROWS}[name]
    url = reverse(name, kwargs=row.kwargs() if row.kwargs else None)
    client = _client_for(visitor, client, request, login)
    response = getattr(client, row.method)(url, row.data)
    assert _outcome(response) == row.expected(visitor), f"{visitor} {row.method.upper()} {url}"
