from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.http_receiver import HTTPReceiver
from tests.mailserver import (  # noqa: F401 - fixtures for the mail path (Dovecot, Postfix, verifier)
    _module_mail_stack,
    dovecot_server,
    mail_stack,
    make_mail_stack,
    postfix_server,
)
from tests.redisserver import RedisProcess
from tests.services import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    WorkerProcess,
    database_url,
    redis_url,
    service_missing,
)
from tests.smtp import SMTPServer

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Each test starts with an empty cache (tests share the locmem cache and often one frozen minute)."""
    from django.core.cache import cache

    cache.clear()
    # The load charts keep complete buckets per process, keyed by how far the tier was built: a test's
    # database is new, the process is not.
    if rollups := sys.modules.get("monitoring.serverload.rollups"):
        rollups._COMPLETE.clear()
    yield


# --- People --------------------------------------------------------------------


@pytest.fixture
def make_user(db) -> Callable:
    from accounts.models import Department, User
    from accounts.roles import Role

    def make(
        email: str,
        role: str = Role.EMPLOYEE,
        department: str | None = "Sales",
        password: str = PASSWORD,
        **extra,
    ) -> User:
        dept = Department.objects.get_or_create(name=department)[0] if department else None
        return User.objects.create_user(
            email, password=password, role=role, department=dept, is_staff=role == Role.IT_STAFF, **extra
        )

    return make


@pytest.fixture
def employee(make_user):
    return make_user("erin@example.com", first_name="Erin", last_name="Employee")


@pytest.fixture
def executive(make_user):
    from accounts.roles import Role

    return make_user("eve@example.com", role=Role.EXECUTIVE, department="Operations", first_name="Eve")


@pytest.fixture
def it_staff(make_user):
    from accounts.roles import Role

    return make_user("ivan@example.com", role=Role.IT_STAFF, department="Operations", first_name="Ivan")


@pytest.fixture
def login() -> Callable:
    """Sign a test client in as ``user``, past every sign-in step the portal requires.

    The user gets a confirmed TOTP token (unless they have one) and the session is
    OTP-verified the way the OTP step leaves it: django-otp's device id, plus
    ``otp_verified_at`` and a recent ``password_verified_at``. Returns the token.
    """

    def sign_in(client, user):
        return otp_sign_in(client, user)

    return sign_in


def otp_sign_in(client, user):
    import time

    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Test phone", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session["otp_verified_at"] = session["password_verified_at"] = int(time.time())
    session.save()
    return device


def totp_code(device, at: float | None = None) -> str:
    """The code ``device`` shows at ``at`` (now by default), as a phone would compute it."""
    import time

    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() if at is None else at
    return f"{totp.token():0{device.digits}d}"


# --- Real services -----------------------------------------------------------------


@pytest.fixture
def smtp_server(settings) -> Iterator[SMTPServer]:
    """A real SMTP server on 127.0.0.1; the portal's email goes there during the test."""
    server = SMTPServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    yield server
    server.stop()


@pytest.fixture
def http_receiver() -> Iterator[HTTPReceiver]:
    """A real HTTP server on 127.0.0.1 for alert channels (Apprise json:// and ntfy:// point at it)."""
    receiver = HTTPReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def redis_server() -> str:
    """URL of a real Redis (database 15 unless TEST_REDIS_URL says otherwise), flushed for the test."""
    import redis

    url = redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis is not reachable at {url} ({exc.__class__.__name__})")
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisProcess]:
    """A Redis of the test's own on a free port, started; the test may stop and start it (outages)."""
    server = RedisProcess(Path(tmp_path) / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def postgres(db) -> None:
    """Marks a test that must run on PostgreSQL (set DATABASE_URL=postgres://...)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        service_missing("this test needs PostgreSQL: set DATABASE_URL=postgres://... to run it")


@pytest.fixture
def celery_worker_factory(redis_server, transactional_db, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real Celery worker processes on Redis, sharing the test database; all stopped at the end."""
    from django.db import connection

    workers: list[WorkerProcess] = []

    def start(concurrency: int = 2, env: dict[str, str] | None = None) -> WorkerProcess:
        worker_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(connection.settings_dict),
            "CELERY_BROKER_URL": redis_server,
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        }
        worker = WorkerProcess(worker_env, Path(tmp_path) / f"worker-{len(workers)}.log", concurrency)
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def celery_app(redis_server, settings, monkeypatch):
    """The portal's Celery app publishing to the test Redis (for tests that send tasks)."""
    from portal.celery import app

    # Celery reads CELERY_BROKER_URL from the environment before its own configuration,
    # so CI's production-like value would win over the test database's URL.
    monkeypatch.setenv("CELERY_BROKER_URL", redis_server)

    def reset_pools() -> None:
        from kombu import pools

        if app._pool is not None:
            app._pool.force_close_all()
            app._pool = None
        app.amqp._producer_pool = None
        # kombu also keeps producer pools in a global registry keyed by the broker URL; without
        # this, the next test using this fixture gets "Acquire on closed pool".
        pools.reset()

    settings.CELERY_BROKER_URL = redis_server
    previous = app.conf.broker_url
    app.conf.broker_url = redis_server
    reset_pools()
    yield app
    app.conf.broker_url = previous
    reset_pools()


def deliver_outbox() -> int:
    """What the worker does with the outbox's email: send each due pending row once. Returns how many were sent."""
    from portal import outbox
    from portal.models import OutboxMessage

    sent = OutboxMessage.objects.filter(status=OutboxMessage.Status.SENT)
    before = sent.count()
    pending = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, channel_name="")
    if ids := list(pending.values_list("pk", flat=True)):
        outbox.send_emails(ids)
    return sent.count() - before


class DeliveredMail:
    """The emails the outbox holds, sent as the worker would (each pending email row once), read from locmem."""

    def __init__(self, outbox_list: list) -> None:
        self.outbox_list = outbox_list

    def messages(self) -> list:
        deliver_outbox()
        return list(self.outbox_list)

    def __len__(self) -> int:
        return len(self.messages())

    def __getitem__(self, index):
        return self.messages()[index]

    def __iter__(self):
        return iter(self.messages())

    def __eq__(self, other) -> bool:
        return self.messages() == other


@pytest.fixture
def sent_mail(mailoutbox) -> DeliveredMail:
    """Like pytest-django's ``mailoutbox``, for mail that goes through the outbox: reading it sends what is due."""
    return DeliveredMail(mailoutbox)


@pytest.fixture
def fresh_producer_pools(celery_app):
    """kombu keeps producer pools per broker URL across tests; other tests close them at teardown."""
    from kombu import pools

    pools.reset()
    yield celery_app
    pools.reset()


@pytest.fixture
def dead_broker(celery_app, monkeypatch):
    """The portal's Celery app pointed at a port where no broker listens (the celery_app fixture restores it)."""
    from kombu import pools

    dead = "redis://127.0.0.1:1/0"
    # Celery reads the environment's CELERY_BROKER_URL before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", dead)
    monkeypatch.delenv("CELERY_BROKER_WRITE_URL", raising=False)
    celery_app.conf.broker_url = dead
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    pools.reset()
    return celery_app


# --- Monitoring: server load --------------------------------------------------------


@pytest.fixture
def make_load_sample(db) -> Callable:
    """Store a ``LoadSample`` at ``at`` with quiet defaults; pass the values a test cares about."""
    from monitoring.serverload.models import LoadSample

    def make(at, **values):
        fields = {
            "cpu": 10.0, "load": 5.0, "memory": 40.0, "swap": 0.0, "disk": 50.0,
            "disks": [{"mount": "/", "percent": 50.0, "used": 50 * 10**9, "total": 100 * 10**9, "free": 50 * 10**9}],
            "disk_read": 0.0, "disk_write": 0.0, "net_in": 1e6, "net_out": 1e6,
            "connections": 0, "queue_status": "ok", "queue": 0, "queue_active": 0, "queue_deferred": 0,
            "queue_hold": 0, "cores": 2, "load_average": [0.1, 0.1, 0.1], "cpu_per_core": [10.0, 10.0],
        }  # fmt: skip
        fields.update(values)
        return LoadSample.objects.create(taken_at=at, **fields)

    return make


# --- Monitoring: DNS block lists -------------------------------------------------------


@pytest.fixture
def dns_server(settings) -> Callable:
    """Start the real test DNS server (tests/dnsserver.py) and point the checker at it."""
    from tests.dnsserver import DNSServer

    servers: list[DNSServer] = []

    def start(zones, **options) -> DNSServer:
        server = DNSServer(zones, **options).start()
        servers.append(server)
        settings.DNSBL_NAMESERVERS = [server.address]
        # Generous enough that a loaded 2-core CI machine does not turn a late answer into a timeout
        # (the server shares this process's GIL); a silent zone costs one lifetime.
        settings.DNSBL_TIMEOUT = 0.5
        settings.DNSBL_LIFETIME = 1.5
        settings.DNSBL_MAX_IN_FLIGHT = 50
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def dnsbl_catalogue(db) -> Callable:
    """Replace the loaded catalogue with test zones (served by ``dns_server``); returns them by zone name."""
    from monitoring.dnsbl.models import DnsblZone

    def make(*specs: dict) -> dict:
        DnsblZone.objects.all().delete()
        zones = {}
        for position, spec in enumerate(specs):
            fields = {"name": spec["zone"], "kind": "ip", "codes": {"127.0.0.2": "Spam source"}, **spec}
            zones[spec["zone"]] = DnsblZone.objects.create(position=position, **fields)
        return zones

    return make


# --- Browser ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        service_missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("playwright is not installed (pip install -r requirements-dev.txt)")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server) -> Iterator[Callable]:
    """Open a page in a browser context of its own (its own cookies: another person at another desk)."""
    contexts = []

    def open_page(**options):
        context = browser.new_context(base_url=live_server.url, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


LOGIN_PATH = "/accounts/login/"


class BrowserSignIn:
    """The portal's sign-in in Chromium, the way a person does it: email and password, then the code on the phone.

    ``browser_sign_in(page, user)`` does both steps (the user gets a confirmed token if they have none) and
    waits for the page the portal sends them to; ``.password()`` and ``.code()`` are the two steps alone, for
    tests about the steps themselves. ``goto=None`` signs in on the sign-in page the browser is on already
    (sent there by a protected page, with its ``next``).
    """

    def __call__(self, page, user, *, password: str = PASSWORD, code: str | None = None,
                 goto: str | None = LOGIN_PATH, wait_for: str | None = "**/"):  # fmt: skip
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
        self.password(page, user.email, password, goto=goto)
        self.code(page, code or totp_code(device))
        if wait_for:
            page.wait_for_url(wait_for)
        return device

    @staticmethod
    def password(page, email: str, password: str = PASSWORD, *, goto: str | None = LOGIN_PATH) -> None:
        if goto:
            page.goto(goto)
        page.get_by_label("Email address").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()

    @staticmethod
    def code(page, code: str) -> None:
        page.wait_for_url("**/accounts/login/code/**")
        page.get_by_label("Code").fill(code)
        page.get_by_role("button", name="Verify").click()


@pytest.fixture
def browser_sign_in() -> BrowserSignIn:
    return BrowserSignIn()
