"""Curbside settings, read from the environment (README "Configuration" lists every variable).

Two ways to run, one code path:

- embedded (default, ``CURBSIDE_ENV=development``): SQLite under ``var/``, the in-memory
  channel layer and presence store, a generated secret key and development keyring under
  ``var/``;
- production (``CURBSIDE_ENV=production``): every secret must come from the environment and
  the process refuses to start without it (``ImproperlyConfigured``), so a misconfigured
  deploy fails loudly instead of running on a development key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core import redis as redis_clients

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("CURBSIDE_VAR_DIR", BASE_DIR / "var"))

CURBSIDE_ENV = os.environ.get("CURBSIDE_ENV", "development")
if CURBSIDE_ENV not in ("development", "production"):
    raise ImproperlyConfigured("CURBSIDE_ENV must be 'development' or 'production'")
PRODUCTION = CURBSIDE_ENV == "production"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _env_steps(name: str, default: str) -> tuple[tuple[float, int], ...]:
    """``"20:3,100:4"`` -> ((20.0, 3), (100.0, 4)); empty -> ()."""
    value = os.environ.get(name, default)
    return tuple((float(a), int(n)) for a, n in
                 (item.strip().split(":") for item in value.split(",") if item.strip()))


def _env_float_or_none(name: str, default: str) -> float | None:
    value = os.environ.get(name, default).strip()
    return float(value) if value else None


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when CURBSIDE_ENV=production")
    return value


def _development_secret(filename: str) -> str:
    """A random secret kept under var/ so sessions survive restarts in embedded mode."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / filename
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = _env_bool("DJANGO_DEBUG", not PRODUCTION)

if PRODUCTION:
    SECRET_KEY = _required("DJANGO_SECRET_KEY")
    if not (os.environ.get("CURBSIDE_KEYRING") or os.environ.get("CURBSIDE_KEYRING_FILE")):
        raise ImproperlyConfigured(
            "CURBSIDE_KEYRING or CURBSIDE_KEYRING_FILE must be set when CURBSIDE_ENV=production"
        )
else:
    SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or _development_secret("secret_key")

# Keyring (crypto/keyring.py documents the format). In development a keyring file is
# generated under var/ on first use.
CURBSIDE_KEYRING = os.environ.get("CURBSIDE_KEYRING", "")
CURBSIDE_KEYRING_FILE = os.environ.get(
    "CURBSIDE_KEYRING_FILE", "" if PRODUCTION else str(VAR_DIR / "keyring.json")
)
CURBSIDE_KEYRING_AUTOCREATE = not PRODUCTION

ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when CURBSIDE_ENV=production")

# Origins allowed to open /ws/v1/ with a session cookie (cross-site WebSocket hijacking
# defence). Each entry is scheme://host[:port]. Required in production. In development,
# unset, `manage.py serve` makes it follow the address it was started on
# (gateway/origins.py); the default below is for servers started any other way.
CURBSIDE_WS_ORIGINS_SET = bool(os.environ.get("CURBSIDE_WS_ORIGINS", "").strip())
if PRODUCTION:
    _required("CURBSIDE_WS_ORIGINS")
CURBSIDE_WS_ORIGINS = _env_list(
    "CURBSIDE_WS_ORIGINS",
    [] if PRODUCTION else ["http://127.0.0.1:8000", "http://localhost:8000"],
)
CSRF_TRUSTED_ORIGINS = CURBSIDE_WS_ORIGINS

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    # TOTP two-factor sign-in (physicians/twofactor.py).
    "django_otp",
    "django_otp.plugins.otp_totp",
    # Ours, lowest layer first (docs/architecture.md). core, bus, phi and presence hold no
    # tables and no commands, so they are plain packages, not apps.
    "crypto",
    "physicians",
    "rooms",
    "consult",
    "gateway",
    "frontend",
    # Adverse drug event reports and signals (docs/adverse.md): above consult, below nothing.
    "adverse",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the session passed a one-time code (django-otp) …
    "django_otp.middleware.OTPMiddleware",
    # … which staff sessions must have, or they count as anonymous.
    "physicians.middleware.StaffOTPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "urls"
ASGI_APPLICATION = "asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# Production never falls back to a SQLite file quietly: a deploy that forgot DATABASE_URL
# refuses to start instead of running on a database nobody backs up.
DATABASE_URL = _required("DATABASE_URL") if PRODUCTION else (
    os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'curbside.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A psycopg connection pool per process. Opening a PostgreSQL connection per socket op
    # cost ~15 % of the message path (docs/benchmarks.md); persistent connections
    # (CONN_MAX_AGE) are no fix under ASGI, where every request runs in a thread of its own
    # and each would keep a connection open until the server ran out ("too many clients").
    DATABASES["default"]["OPTIONS"] = {"pool": {
        "min_size": 2,
        "max_size": int(os.environ.get("CURBSIDE_DB_POOL_SIZE", 20)),
        # How long a request waits for a pooled connection; during a database outage, how
        # long before it is answered "unavailable" (docs/operations.md, "PostgreSQL outage").
        "timeout": float(os.environ.get("CURBSIDE_DB_POOL_TIMEOUT_S", 5)),
        # A failing reconnection backs off (1, 2, 4 s …) for at most this long, then the next
        # request starts a new attempt at once: the pool is back within ~2 s of the database
        # (psycopg_pool's default, 300 s, let the backoff reach minutes).
        "reconnect_timeout": 5,
    }}
    # With a pool, Django's health checks become the pool's: every connection is checked
    # (an empty query) as it leaves the pool. After the database restarted or the network
    # dropped, the pool's idle connections are all dead, and each would otherwise fail one
    # request before the pool noticed.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # WAL + a busy timeout: daphne's thread pool writes concurrently in embedded mode.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not :memory:, so the daphne processes of end-to-end tests see the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_curbside.sqlite3")}
    # Persistent connections: Channels' database_sync_to_async closes "old" connections
    # before and after every call, and with CONN_MAX_AGE=0 that opened and closed the SQLite
    # file (connect, the WAL pragmas, close) around every batch of the message path — ~11 %
    # of an embedded server's samples (docs/benchmarks.md). A SQLite connection is a file
    # handle per thread: the few threads of the process keep theirs, and Django still closes
    # one after an error it cannot use (close_if_unusable_or_obsolete). No health check: a
    # local file does not go away like a server (Django's SQLite is_usable is always true).
    # PostgreSQL keeps its pool above (persistent connections there would be one per ASGI
    # thread, and its pool checks each connection as it leaves the pool).
    DATABASES["default"]["CONN_MAX_AGE"] = None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "physicians.User"
AUTHENTICATION_BACKENDS = ["physicians.auth.EmailBackend"]
# Argon2id first: new passwords are hashed with it; others are upgraded on login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# The issuer authenticator apps show next to the account (physicians/twofactor.py).
OTP_TOTP_ISSUER = os.environ.get("CURBSIDE_OTP_ISSUER", "Curbside")

SESSION_COOKIE_AGE = int(os.environ.get("CURBSIDE_SESSION_AGE_S", 12 * 3600))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    # TLS terminates at the proxy (docker-compose.yml: nginx).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _env_bool("CURBSIDE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("CURBSIDE_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"

# --- Channel layer -------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# redis-py 8 lowered its default pool to 100 connections and channels-redis does not set
# one; under a burst of handshakes that surfaces as HTTP 500s, so the size is explicit.
REDIS_POOL_SIZE = int(os.environ.get("CURBSIDE_REDIS_POOL_SIZE", 1000))
REDIS_SOCKET_TIMEOUT_S = 30
CHANNEL_CAPACITY = int(os.environ.get("CURBSIDE_CHANNEL_CAPACITY", 10000))
if REDIS_URL:
    CHANNEL_LAYER_KEY = os.environ.get("CURBSIDE_CHANNEL_LAYER_KEY") or (
        _required("CURBSIDE_CHANNEL_LAYER_KEY") if PRODUCTION else SECRET_KEY
    )
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{
                    "address": REDIS_URL,
                    "max_connections": REDIS_POOL_SIZE,
                    # redis-py 8 defaults socket_timeout to 5 s, the same as channels-redis'
                    # BZPOPMIN timeout: an idle receive loop then times out the socket
                    # and the consumer dies with 1011. Read timeout must exceed 5 s.
                    "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
                    "socket_connect_timeout": 2,
                    # Retry a command on a fresh connection after a reset (core/redis.py).
                    "retry": redis_clients.retry_policy(),
                    # No per-connection package-metadata read and CLIENT SETINFO (redis-py 8).
                    "driver_info": None,
                }],
                "prefix": os.environ.get("CURBSIDE_REDIS_PREFIX", "curbside"),
                "symmetric_encryption_keys": [CHANNEL_LAYER_KEY],
                # Each process's room hub takes every room event on one channel, so it needs
                # more room than a per-socket channel did (bus/hub.py).
                "capacity": CHANNEL_CAPACITY,
                "expiry": 60,
            },
        }
    }
    CHANNEL_LAYER_NAME = "redis"
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                                  "CONFIG": {"capacity": CHANNEL_CAPACITY}}}
    CHANNEL_LAYER_NAME = "in-memory"

# --- Protocol limits (sent to every client in session.welcome) -------------------------------
CURBSIDE_LIMITS = {
    # Largest accepted text frame; a bigger one closes the socket with 1009.
    "frame_bytes": int(os.environ.get("CURBSIDE_FRAME_BYTES", 64 * 1024)),
    # Longest message body, in characters.
    "message_chars": int(os.environ.get("CURBSIDE_MESSAGE_CHARS", 8000)),
    # Token bucket per user: sustained messages per second and burst size.
    "messages_per_s": float(os.environ.get("CURBSIDE_MESSAGES_PER_S", 5)),
    "message_burst": int(os.environ.get("CURBSIDE_MESSAGE_BURST", 20)),
    # Rooms one socket may have joined at once.
    "rooms_per_socket": int(os.environ.get("CURBSIDE_ROOMS_PER_SOCKET", 50)),
    # Largest attachment upload, in bytes.
    "attachment_bytes": int(os.environ.get("CURBSIDE_ATTACHMENT_BYTES", 10 * 1024 * 1024)),
}
# Cases a physician may post in any hour, and how many of them urgent (an urgent case pages
# the on-call specialists of a specialty: strictly capped).
CURBSIDE_CASE_LIMITS = {
    "per_hour": int(os.environ.get("CURBSIDE_CASES_PER_HOUR", 20)),
    "urgent_per_hour": int(os.environ.get("CURBSIDE_URGENT_CASES_PER_HOUR", 3)),
}
# The largest frame this server will send (daphne's autobahn would otherwise apply the
# frame_bytes limit to outgoing messages too, and fail the socket with 1011 on a bigger one:
# gateway/patches.py). Pages of history are sized to fit frame_bytes (rooms/selectors.py),
# so this is a backstop: a reply over it is answered with too_large, an event over it is
# dropped and logged (gateway/consumer.py). At least frame_bytes (gateway/checks.py).
CURBSIDE_SEND_FRAME_BYTES = int(os.environ.get("CURBSIDE_SEND_FRAME_BYTES", 1024 * 1024))
# What a process may hold unsent for one socket whose client does not read (beyond the
# kernel's buffers) before it drops that socket (gateway/patches.py, SendBacklog). At least
# twice CURBSIDE_SEND_FRAME_BYTES.
CURBSIDE_SEND_BACKLOG_BYTES = int(os.environ.get("CURBSIDE_SEND_BACKLOG_BYTES", 4 * 1024 * 1024))
# Password guessing and sign-ups (physicians/throttle.py; counters in the database, shared
# by every process). Failed logins per account (e-mail) and per client address within the
# window lock that account or address for lockout_s, doubling with every further failure up
# to lockout_max_s; accepted sign-ups per client address within their window.
CURBSIDE_AUTH_LIMITS = {
    "login_failures_per_account": int(os.environ.get("CURBSIDE_LOGIN_FAILURES_PER_ACCOUNT", 5)),
    "login_failures_per_ip": int(os.environ.get("CURBSIDE_LOGIN_FAILURES_PER_IP", 50)),
    "login_window_s": float(os.environ.get("CURBSIDE_LOGIN_WINDOW_S", 900)),
    "lockout_s": float(os.environ.get("CURBSIDE_LOGIN_LOCKOUT_S", 300)),
    "lockout_max_s": float(os.environ.get("CURBSIDE_LOGIN_LOCKOUT_MAX_S", 3600)),
    "signups_per_ip": int(os.environ.get("CURBSIDE_SIGNUPS_PER_IP", 10)),
    "signup_window_s": float(os.environ.get("CURBSIDE_SIGNUP_WINDOW_S", 3600)),
}
# How often clients should ping; presence treats a socket as gone after 3 missed beats.
CURBSIDE_HEARTBEAT_S = int(os.environ.get("CURBSIDE_HEARTBEAT_S", 25))
# daphne's own WebSocket ping to each socket (dead-peer check; `manage.py serve`). The
# clients' heartbeat already keeps proxies and presence fresh, so it can be rare.
CURBSIDE_WS_PING_S = int(os.environ.get("CURBSIDE_WS_PING_S", 3 * CURBSIDE_HEARTBEAT_S))
# Lifetime of a single-use WebSocket ticket (the protocol promises at most 30 s).
CURBSIDE_TICKET_TTL_S = min(int(os.environ.get("CURBSIDE_TICKET_TTL_S", 30)), 30)
# How long a process keeps a user's handshake profile (physicians/socket_cache.py). Changes
# that matter invalidate it on every process at once; this is the backstop. 0 turns it off.
CURBSIDE_SOCKET_PROFILE_TTL_S = float(os.environ.get("CURBSIDE_SOCKET_PROFILE_TTL_S", 60))

# --- Mail (the outcome of a sign-up goes to the address, never in the answer) ---------------
# Development prints mails to the console; production sends none until a backend is set
# (Django's SMTP backend with the EMAIL_* variables below, for instance). Tests use locmem.
EMAIL_BACKEND = os.environ.get("CURBSIDE_EMAIL_BACKEND") or (
    "django.core.mail.backends.dummy.EmailBackend" if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("CURBSIDE_EMAIL_FROM", "Curbside <no-reply@localhost>")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10

# --- Logging ---------------------------------------------------------------------------------
LOG_LEVEL = os.environ.get("CURBSIDE_LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

# --- Urgent routing (consult/triage.py) ------------------------------------------------------
CURBSIDE_ROUTING = {
    # Offers open at once when an urgent case is posted. The defaults here are those the
    # network simulator chose (docs/routing.md, "Progressive widening"; consult.triage
    # DEFAULT_POLICY holds the same values for the simulator).
    "k": int(os.environ.get("CURBSIDE_ROUTING_K", 2)),
    # Seconds an offer stays open before it expires and the case moves on.
    "offer_ttl_s": float(os.environ.get("CURBSIDE_OFFER_TTL_S", 75)),
    # Open urgent consults a specialist may hold before they are "full".
    "max_open_consults": int(os.environ.get("CURBSIDE_MAX_OPEN_CONSULTS", 2)),
    # Progressive widening, "after_s:n,...": from after_s seconds without an accept, up to n
    # offers are open at once ("" = k throughout).
    "widen": _env_steps("CURBSIDE_ROUTING_WIDEN", "15:3,100:4"),
    # Seconds without an accept after which free slots are filled from the next tier while
    # the current tier's offers are still open ("" = only once the tier is exhausted).
    "escalate_after_s": _env_float_or_none("CURBSIDE_ROUTING_ESCALATE_AFTER_S", "60"),
}
# How often each server process's routing driver looks for due deadlines and sweeps presence.
CURBSIDE_DRIVER_TICK_S = float(os.environ.get("CURBSIDE_DRIVER_TICK_S", 1.0))
# Offline alerts (consult/alerts.py): an on-call specialist with no open socket gets an urgent
# case by e-mail (the EMAIL_* settings above), with a single-use accept link valid this long
# and built on this public address of the web client (scheme://host[:port], no trailing /).
CURBSIDE_OFFER_ALERT_TTL_S = float(os.environ.get("CURBSIDE_OFFER_ALERT_TTL_S", 1800))
CURBSIDE_PUBLIC_URL = os.environ.get("CURBSIDE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# The digest of unread mentions, replies and answers (consult/digest.py): `manage.py
# send_digests --loop` mails it this often to physicians with no open socket.
CURBSIDE_DIGEST_EVERY_S = float(os.environ.get("CURBSIDE_DIGEST_EVERY_S", 3600))

# Request bodies up to this size stay in memory. Django's ASGI handler spools anything bigger
# to a temporary file on disk — for an attachment upload, the patient image in clear on /tmp
# before it is cleaned and sealed. The attachment limit plus multipart overhead keeps every
# accepted upload in memory (and bigger ones are refused before they are read).
FILE_UPLOAD_MAX_MEMORY_SIZE = CURBSIDE_LIMITS["attachment_bytes"] + 64 * 1024

# --- Prometheus /metrics (core/metrics.py, gateway/metrics_view.py) ---------------------------
# The bearer token a scraper sends (`Authorization: Bearer <it>`). Unset: /metrics answers 404
# — the endpoint is off, never public by default. PROMETHEUS_MULTIPROC_DIR (read by
# prometheus-client itself) makes one scrape sum every process of a host (docs/operations.md).
CURBSIDE_METRICS_TOKEN = os.environ.get("CURBSIDE_METRICS_TOKEN", "")
