"""Settings for the portal, all read from the environment (see README: Configuration).

Embedded defaults (no services needed): SQLite and Celery's filesystem
transport under ``var/``, console email. Production sets ``DATABASE_URL``,
``CELERY_BROKER_URL``, ``CACHE_URL``, the ``EMAIL_*`` values, ``SECRET_KEY`` and
``ALLOWED_HOSTS``.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from portal.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    load_dotenv,
    parse_cache_url,
    parse_database_url,
    passphrase_problem,
    secret_key_problem,
)

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / env_str("PORTAL_ENV_FILE", ".env"))

VAR_DIR = Path(env_str("PORTAL_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _generated_secret(name: str, nbytes: int) -> str:
    """Local runs (DEBUG on) only: a random value generated once into var/<name>, never committed."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(nbytes), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        if problem := secret_key_problem(key):
            raise ImproperlyConfigured(f"{problem}, e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'")
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to 50+ random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    return _generated_secret("secret_key", 50)


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set; list the portal's host names, comma-separated")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Webmail hosts the portal may send users back to after sign-in (nginx auth_request gateway).
GATEWAY_ALLOWED_HOSTS = env_list("GATEWAY_ALLOWED_HOSTS")
# Seconds after the OTP step during which webmail opens without asking again (docs/gateway.md).
GATEWAY_MAX_AGE = env_int("GATEWAY_MAX_AGE", 12 * 3600, minimum=60)
# Roles whose members may use webmail through the gateway (values of accounts.roles.Role).
GATEWAY_ROLES = env_list("GATEWAY_ROLES", ["employee", "executive", "it_staff"])
if unknown_roles := set(GATEWAY_ROLES) - {"employee", "executive", "it_staff"}:
    raise ImproperlyConfigured(f"GATEWAY_ROLES: unknown role(s) {', '.join(sorted(unknown_roles))}")

ORGANISATION_NAME = env_str("ORGANISATION_NAME", "Example Ltd")
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    "captcha",
    "portal",
    "accounts",
    "policies",
    "monitoring",
    "monitoring.dnsbl",
    "monitoring.serverload",
    "monitoring.sending",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Signed-in users without a token are sent to enrolment; with one, to the OTP step.
    "accounts.middleware.OTPRequiredMiddleware",
    # Where a role needs a company certificate for the portal too, pages need the browser's certificate.
    "accounts.middleware.DeviceCertificateMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # DEBUG (make run) only: the portal's 404 page instead of Django's list of every URL pattern.
    "portal.errors.DebugNotFoundMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
            # |when, |day and |clock: the one date and time format of every page and email (portal/dates.py)
            "builtins": ["portal.templatetags.portal_dates"],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {"default": parse_database_url(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"))}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the worker write while the web process reads.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-portal.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and sessions ----------------------------------------------------
# The default cache is a folder under var/, shared by the web workers and the
# Celery worker; production uses Redis (CACHE_URL=redis://127.0.0.1:6379/1).
CACHES = {"default": parse_cache_url(env_str("CACHE_URL", f"file://{VAR_DIR / 'cache'}"), base_dir=BASE_DIR)}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=300)
SESSION_COOKIE_DOMAIN = env_str("SESSION_COOKIE_DOMAIN") or None
SESSION_COOKIE_NAME = env_str("SESSION_COOKIE_NAME", "portal_session")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
FORCE_SCRIPT_NAME = env_str("FORCE_SCRIPT_NAME") or None

# --- Users ------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# TOTP tokens: issuer in authenticator apps, secrets never shown in the admin (see docs/accounts.md).
OTP_TOTP_ISSUER = ORGANISATION_NAME
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
CAPTCHA_IMAGE_SIZE = (120, 44)
CAPTCHA_FONT_SIZE = 28
# A spoken version of the picture code for people who cannot read it, when flite is installed
# (apt-get install flite); without it the form offers the picture and a new picture only.
CAPTCHA_FLITE_PATH = shutil.which("flite")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation --------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Email -------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", EMAIL_PORT == 465)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "portal@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Outbox (portal/outbox.py): every message is a row first, retried with a doubling backoff ---------
OUTBOX_RETRY_SECONDS = env_int("OUTBOX_RETRY_SECONDS", 60, minimum=1)  # wait before the first retry
OUTBOX_RETRY_WINDOW = env_int("OUTBOX_RETRY_WINDOW", 24 * 3600, minimum=60)  # seconds of retries, then failed
# Seconds an alert channel (Apprise) may take to answer before the try counts as failed.
ALERT_CHANNEL_TIMEOUT = env_float("ALERT_CHANNEL_TIMEOUT", 10.0, minimum=0.5)

# --- Celery --------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "processed", "control"):
        (_broker_dir / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Redis hands an unacknowledged task (acks are late) to another worker after this long, so a task with an
    # ETA or countdown further out than this would run again and again. Retries wait at most 30 minutes
    # (portal.sending.MAX_BACKOFF) and everything later is a row in the database that a tick picks up.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Beat only sends these fixed ticks. Every timing decision (when a campaign, sweep, sample or digest is due)
# lives in the database, edited in the portal: each tick asks what is due and claims it with a conditional
# UPDATE, so two beats or a redelivered tick never do the same work twice.
HEARTBEAT_INTERVAL = env_int("HEARTBEAT_INTERVAL", 30, minimum=5)
# The ticks that publish outgoing messages and take back abandoned ones (docs/architecture.md, "When a
# worker, the broker, the database or the mail server fails"): recovery happens at the first tick after the
# evidence, so these bound how long it waits.
OUTBOX_TICK_SECONDS = env_float("OUTBOX_TICK_SECONDS", 30.0, minimum=0.5)
CAMPAIGN_TICK_SECONDS = env_float("CAMPAIGN_TICK_SECONDS", 30.0, minimum=0.5)
# Each worker process beats this often (portal.workers); one that missed WORKER_MISSED_BEATS beats is dead
# and the rows it held are taken back.
WORKER_HEARTBEAT_SECONDS = env_float("WORKER_HEARTBEAT_SECONDS", 10.0, minimum=0.2)
WORKER_MISSED_BEATS = env_int("WORKER_MISSED_BEATS", 3, minimum=2)
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "portal.tasks.heartbeat", "schedule": float(HEARTBEAT_INTERVAL)},
    # Publishes due and lost outbox sends and recovers rows of dead workers (it never sends itself).
    "outbox-tick": {"task": "portal.outbox_tick", "schedule": OUTBOX_TICK_SECONDS},
    "accounts-tick": {"task": "accounts.tasks.tick", "schedule": 60.0},
    "policies-tick": {"task": "policies.tick", "schedule": CAMPAIGN_TICK_SECONDS},
    "dnsbl-tick": {"task": "dnsbl.tick", "schedule": 60.0},
    # Samples the server's load when due (interval in the database, default 60 s), rolls up, runs drift checks.
    "load-tick": {"task": "serverload.tick", "schedule": 15.0},
    # Works out each sender's usual hour (the burst rule) hourly and prunes old sending totals daily.
    "sending-tick": {"task": "sending.tick", "schedule": 60.0},
}

# --- Configuration drift: a watched pattern may name at most this many files (one glob once copied 1,258
# files, 15 MB, into the database).
DRIFT_MAX_FILES = env_int("DRIFT_MAX_FILES", 200, minimum=1)

# --- Mail-path services (app-password verifier, Postfix policy service): the heartbeat contract ------
# Each beats Heartbeat("mail_<name>") at least this often; one that missed this many beats is "down"
# on the load dashboard, home and the summary (monitoring/serverload/mailsystem.py, docs/load.md).
MAIL_SERVICE_HEARTBEAT_INTERVAL = env_int("MAIL_SERVICE_HEARTBEAT_INTERVAL", 60, minimum=5)
MAIL_SERVICE_MISSED_BEATS = env_int("MAIL_SERVICE_MISSED_BEATS", 3, minimum=1)

# --- DNS block lists (monitoring/dnsbl/; zones and the sweep interval live in the database) ---
# Comma-separated ip or ip:port ([v6]:port); empty: the system's resolver. Use a local recursive
# resolver: Spamhaus and URIBL refuse queries that come through public resolvers.
DNSBL_NAMESERVERS = env_list("DNSBL_NAMESERVERS")
for _item in DNSBL_NAMESERVERS:
    from monitoring.dnsbl.resolver import parse_nameserver

    try:
        parse_nameserver(_item)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"DNSBL_NAMESERVERS: {_exc}") from None
DNSBL_TIMEOUT = env_float("DNSBL_TIMEOUT", 2.0, minimum=0.05)  # seconds per attempt
DNSBL_LIFETIME = env_float("DNSBL_LIFETIME", 4.0, minimum=0.05)  # seconds per lookup, retries included
DNSBL_MAX_IN_FLIGHT = env_int("DNSBL_MAX_IN_FLIGHT", 500, minimum=1)
# Addresses in one check of new addresses (web page and dnsbl_check) at most, and checks an IT user may
# start on the web page per hour: a check of a thousand /24s would be millions of queries to public lists.
DNSBL_MAX_ADDRESSES = env_int("DNSBL_MAX_ADDRESSES", 1024, minimum=1)
DNSBL_CHECKS_PER_HOUR = env_int("DNSBL_CHECKS_PER_HOUR", 30, minimum=1)

# --- Mail programs: app passwords and the mail login verifier (docs/mail-clients.md) ------------
# The verifier's Unix socket (manage.py mail_auth_server); Dovecot's Lua passdb connects to it.
MAIL_AUTH_SOCKET = env_str("MAIL_AUTH_SOCKET", str(VAR_DIR / "mail-auth.sock"))
# Group given the socket (mode 0660) so Dovecot's auth workers may connect, e.g. dovecot.
MAIL_AUTH_SOCKET_GROUP = env_str("MAIL_AUTH_SOCKET_GROUP")
# Dovecot's master-type auth listener (portal-master in mail_auth_config's output), through which the
# verifier flushes cached logins of people whose passwords changed. Empty: only the cache TTL applies.
MAIL_AUTH_DOVECOT_SOCKET = env_str("MAIL_AUTH_DOVECOT_SOCKET")
# What the mail server calls people: their email address, or its local part (system users, PAM).
MAIL_USERNAME = env_str("MAIL_USERNAME", "email")
if MAIL_USERNAME not in {"email", "localpart"}:
    raise ImproperlyConfigured("MAIL_USERNAME must be email or localpart")
# Host name mail programs connect to (IMAP and SMTP); empty: mail.<domain of the person's address>.
MAIL_SERVER = env_str("MAIL_SERVER")
MAIL_IMAP_PORT = env_int("MAIL_IMAP_PORT", 993, minimum=1)
MAIL_POP3_PORT = env_int("MAIL_POP3_PORT", 995, minimum=1)
MAIL_SUBMISSION_PORT = env_int("MAIL_SUBMISSION_PORT", 587, minimum=1)
MAIL_SUBMISSIONS_PORT = env_int("MAIL_SUBMISSIONS_PORT", 465, minimum=1)
MAIL_POP3 = env_bool("MAIL_POP3", True)


# --- Devices: client certificates from the portal's own small CA (docs/devices.md) -------------------
# The CA's private key is stored encrypted with this passphrase (never derived from SECRET_KEY). Without it
# no certificate can be issued; with a CA already made, a missing or wrong one stops the start.
def _device_ca_passphrase() -> str:
    value = env_str("DEVICE_CA_KEY_PASSPHRASE")
    if value:
        if problem := passphrase_problem(value, SECRET_KEY):
            raise ImproperlyConfigured(f"DEVICE_CA_KEY_PASSPHRASE: {problem}")
        return value
    return _generated_secret("device_ca_passphrase", 32) if DEBUG else ""


DEVICE_CA_KEY_PASSPHRASE = _device_ca_passphrase()
# Key type of a new CA and of the device keys it issues: rsa2048 (every client, see docs/devices.md) or p256.
DEVICE_CA_KEY_TYPE = env_str("DEVICE_CA_KEY_TYPE", "rsa2048")
if DEVICE_CA_KEY_TYPE not in {"rsa2048", "p256"}:
    raise ImproperlyConfigured("DEVICE_CA_KEY_TYPE must be rsa2048 or p256")
# Where the worker writes what nginx reads: ca-bundle.pem (the trusted CAs) and crl.pem (their CRLs).
DEVICE_CA_DIR = Path(env_str("DEVICE_CA_DIR", str(VAR_DIR / "device-ca")))
# Days a signed CRL is valid; the tick signs a fresh one daily and within a minute of a revocation.
DEVICE_CRL_DAYS = env_int("DEVICE_CRL_DAYS", 7, minimum=2)

# --- The sending guard: the Postfix policy service (manage.py mail_policy_server; docs/sending.md) ---------
# Where it listens: host:port (Postfix: check_policy_service inet:127.0.0.1:10040) or an absolute path of a
# Unix socket (Postfix: unix:...; inside Postfix's queue directory when smtpd runs chrooted).
MAIL_POLICY_LISTEN = env_str("MAIL_POLICY_LISTEN", "127.0.0.1:10040")
# Group given a Unix socket (mode 0660) so Postfix's smtpd may connect, e.g. postfix.
MAIL_POLICY_SOCKET_GROUP = env_str("MAIL_POLICY_SOCKET_GROUP")
# Where the senders' counters live: "memory" (one mail server) or a Redis URL (several mail servers sharing
# limits). Empty: CACHE_URL when it is Redis, else CELERY_BROKER_URL when it is Redis, else memory.
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
MAIL_POLICY_COUNTERS = env_str("MAIL_POLICY_COUNTERS") or next(
    (url for url in (env_str("CACHE_URL"), CELERY_BROKER_URL) if url.startswith(_REDIS_SCHEMES)), "memory"
)
if MAIL_POLICY_COUNTERS != "memory" and not MAIL_POLICY_COUNTERS.startswith(_REDIS_SCHEMES):
    raise ImproperlyConfigured("MAIL_POLICY_COUNTERS must be memory or a redis:// URL")

# --- Security --------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", True) else None
# Peers (nginx) whose last X-Forwarded-For entry is the browser's address (lockout per address, audit log).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", ["127.0.0.1", "::1"])
# Sign-in failures, password-reset requests and CAPTCHA pictures are counted per client network of this size.
CLIENT_NETWORK_IPV4_PREFIX = env_int("CLIENT_NETWORK_IPV4_PREFIX", 24, minimum=8)
CLIENT_NETWORK_IPV6_PREFIX = env_int("CLIENT_NETWORK_IPV6_PREFIX", 64, minimum=16)
if CLIENT_NETWORK_IPV4_PREFIX > 32 or CLIENT_NETWORK_IPV6_PREFIX > 128:
    raise ImproperlyConfigured("CLIENT_NETWORK_IPV4_PREFIX is at most 32 and CLIENT_NETWORK_IPV6_PREFIX at most 128")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^gateway/auth$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        # After sign-in the form's redirect may lead back to webmail (Chrome checks redirects too).
        "form-action": ["'self'", *(f"https://{host}" for host in GATEWAY_ALLOWED_HOSTS)],
    }
}

# --- Logging ---------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {
        "channel_secrets": {"()": "portal.channels.RedactChannelSecrets"},
        "one_time_tokens": {"()": "portal.logredact.RedactTokens"},
        "client_errors_one_line": {"()": "portal.errors.OneLineForClientErrors"},
    },
    "handlers": {
        # Invitation and reset tokens are redacted from every line (portal.logredact), e.g. "Not Found: /...".
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["one_time_tokens"]},
        "discard": {"class": "logging.NullHandler"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django's own console handler (DEBUG only) printed every record a second time: the root's is enough.
        "django": {"handlers": []},
        # A 403 or 404 is one line ("Not Found: /x"), never a traceback; 5xx keep theirs (portal/errors.py).
        "django.request": {"filters": ["client_errors_one_line"]},
        # Apprise and urllib3 log channel URLs and ntfy topics (tokens): redacted in every record
        # (portal.channels), and Apprise's own records stay out of the console altogether. What it says
        # about a failure reaches the channel's status through portal.channels, with the URL removed.
        "apprise": {"handlers": ["discard"], "level": "WARNING", "propagate": False, "filters": ["channel_secrets"]},
        "urllib3": {"level": "WARNING"},
        "urllib3.connectionpool": {"filters": ["channel_secrets"]},
        "urllib3.util.retry": {"filters": ["channel_secrets"]},
    },
}
