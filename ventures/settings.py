"""
Settings for ventures, read once from the environment.

Every variable is documented in ``.env.example`` and the README. Without
``DEBUG=true`` this is production: ``ventures.checks`` then enforces the
security policy and ``ventures.wsgi`` refuses to serve while it is broken.
"""

import base64
import ipaddress
import secrets
from pathlib import Path

import environ

from ventures.cookies import cookie_name
from ventures.dev_keys import kept_key
from ventures.entitlement_spec import parse as parse_entitlements

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file fills in what the real environment leaves unset (it never wins).
# ENV_FILE="" reads none, for tests and containers.
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    environ.Env.read_env(ENV_FILE, overwrite=False)


def env_list(name, default=""):
    """A comma-separated variable as a list, each item trimmed, empties dropped."""
    return [
        item.strip()
        for item in env.str(name, default=default).split(",")
        if item.strip()
    ]


# MODE
# ------------------------------------------------------------------------------
# Exactly "true" is development; unset, empty or "false" is production. Any
# other value (1, yes, on, True) is production too, and refused at start
# (ventures.E080): one spelling, so what the environment says is what runs.
DEBUG_VALUE = env.str("DEBUG", default="")
DEBUG = DEBUG_VALUE == "true"

# SECRETS
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key
SECRET_KEY = env.str("SECRET_KEY", default="")
SECRET_KEY_FILE = env.str("SECRET_KEY_FILE", default="")
if not SECRET_KEY and SECRET_KEY_FILE:
    SECRET_KEY = Path(SECRET_KEY_FILE).read_text().strip()
if not SECRET_KEY and DEBUG:
    # Development only: a random key, kept in an ignored file so sessions
    # survive restarts. Production has no default (ventures.E001).
    SECRET_KEY = kept_key(BASE_DIR / ".secret-key", lambda: secrets.token_urlsafe(64))
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")

# HOSTS AND ORIGINS
# ------------------------------------------------------------------------------
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", default="localhost,127.0.0.1,[::1]" if DEBUG else ""
)
# The single-page frontend's exact origins: CORS, CSRF and post-login redirects.
# `make run` sets the example frontend's; without one configured, logins land
# on /api/auth/me (LOGIN_REDIRECT_URL), which shows whom they logged in.
FRONTEND_ORIGINS = env_list("FRONTEND_ORIGINS")
CORS_ALLOWED_ORIGINS = FRONTEND_ORIGINS
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/api/"
CSRF_TRUSTED_ORIGINS = FRONTEND_ORIGINS

# Set only behind a reverse proxy: the addresses whose X-Forwarded-* headers
# are believed. Anyone else could forge them: ventures.network drops their
# X-Forwarded-Proto before Django reads it here, and ignores their
# X-Forwarded-For.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
if TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# SESSIONS
# ------------------------------------------------------------------------------
# Rows in accounts_session, keyed by a hash of the cookie's key, with an owner
# (sessions.store). Timeouts are enforced on the server, in seconds.
SESSION_ENGINE = "sessions.store"
SESSION_ABSOLUTE_TIMEOUT = env.int("SESSION_ABSOLUTE_TIMEOUT", default=7 * 24 * 3600)
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=24 * 3600)
STAFF_SESSION_ABSOLUTE_TIMEOUT = env.int(
    "STAFF_SESSION_ABSOLUTE_TIMEOUT", default=12 * 3600
)
STAFF_SESSION_IDLE_TIMEOUT = env.int("STAFF_SESSION_IDLE_TIMEOUT", default=30 * 60)
# A session nobody has logged in to only carries a login's OAuth state: left
# behind by abandoned and denied logins, it should not linger.
SESSION_ANONYMOUS_TIMEOUT = env.int("SESSION_ANONYMOUS_TIMEOUT", default=3600)
# Last-seen, IP and user agent are written at most this often per session.
SESSION_ACTIVITY_INTERVAL = env.int("SESSION_ACTIVITY_INTERVAL", default=5 * 60)
# Ending one's other sessions needs a login at most this old.
SESSION_RECENT_LOGIN = env.int("SESSION_RECENT_LOGIN", default=5 * 60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT

# COOKIES
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#sessions
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = env.bool("SESSION_COOKIE_HTTPONLY", default=True)
SESSION_COOKIE_DOMAIN = env.str("SESSION_COOKIE_DOMAIN", default="") or None
SESSION_COOKIE_SAMESITE = env.str("SESSION_COOKIE_SAMESITE", default="Lax")
SESSION_COOKIE_NAME = cookie_name(
    "sessionid", secure=SESSION_COOKIE_SECURE, domain=SESSION_COOKIE_DOMAIN
)
# The frontend gets the token from /api/auth/csrf, never by reading this
# cookie, so it stays host-only and out of JavaScript's reach.
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = SESSION_COOKIE_SAMESITE
CSRF_COOKIE_NAME = cookie_name("csrftoken", secure=CSRF_COOKIE_SECURE, domain=None)

# SECURITY HEADERS
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/middleware/#module-django.middleware.security
SECURE_SSL_REDIRECT = not DEBUG
# Load balancers probe health over plain HTTP on the private side, and
# Prometheus scrapes each instance there (/metrics, by address only).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=0 if DEBUG else 63072000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# APPLICATIONS
# ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "accounts.apps.AdminConfig",  # django.contrib.admin, its login limited
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.patreon",
    "ventures",
    "procrastinate.contrib.django",  # the task queue, on PostgreSQL
    "accounts",
    "sessions",
]

MIDDLEWARE = [
    # First: nothing may read the scheme before an untrusted peer's
    # X-Forwarded-Proto is dropped.
    "ventures.network.TrustedProxyMiddleware",
    "ventures.logs.RequestIdMiddleware",
    # Times everything after it, by route (ventures.metrics).
    "ventures.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "ventures.headers.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "sessions.middleware.SessionActivityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "ventures.urls"
WSGI_APPLICATION = "ventures.wsgi.application"
ADMIN_URL = env.str("ADMIN_URL", default="admin/")
CSRF_FAILURE_VIEW = "ventures.errors.csrf_failure"

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
            ],
        },
    },
]

# DATABASE AND CACHE
# ------------------------------------------------------------------------------
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
# Persistent connections, checked before each request's first query, so
# that none fails after a PostgreSQL restart. On PostgreSQL the check is
# ventures.postgresql's: the connection's socket, not Django's SELECT 1 round
# trip on every request (docs/performance.md).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "ventures.postgresql"
# What sits between the app and PostgreSQL: "" nothing (the app connects to
# PostgreSQL itself), "transaction" a pooler in transaction mode (PgBouncer,
# deploy/pgbouncer.ini). Anything else is refused (ventures.E071).
DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
if DATABASES["default"]["ENGINE"] == "ventures.postgresql":
    if DATABASE_POOLER == "transaction":
        # Each transaction may run on another server connection, so nothing
        # may outlive one: no prepared statements (they live on a server
        # connection: "prepared statement _pg3_0 already exists" on the next
        # client to get it), parameters bound on the client (Django's default),
        # and no server-side cursors (WITH HOLD cursors outlive their
        # transaction). The one SET Django sends, TimeZone, PgBouncer replays
        # on each server connection, and deploy/pgbouncer.ini makes it
        # needless (timezone=UTC).
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        DATABASES["default"].setdefault("OPTIONS", {}).update(prepare_threshold=None)
    else:
        # Parameters bound on the server, and a statement prepared once it has
        # run five times on a connection (psycopg's default): PostgreSQL then
        # parses and plans the session lookup of every authenticated request
        # once per connection, not per request (docs/performance.md). Django
        # leaves both off by default for transaction-mode poolers, which
        # DATABASE_POOLER=transaction says is in front.
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=5
        )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default, made to take concurrent logins (docs/performance.md).
    # WAL: readers go on while one connection writes. IMMEDIATE: a transaction
    # takes the write lock when it begins, waiting up to `timeout` seconds for
    # it; under SQLite's default a transaction that read first fails at once
    # with "database is locked" when it tries to write while another does.
    # synchronous=NORMAL is safe with WAL: a power cut may lose the last
    # transactions, never corrupt the file. Options in DATABASE_URL win.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        **DATABASES["default"].get("OPTIONS", {}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The task queue (procrastinate) lives in PostgreSQL: its migrations are SQL
# for PostgreSQL only, so the embedded SQLite default skips them, and
# memberships announced changed are re-read by `manage.py patreon sync
# --pending` there instead of by a worker.
TASK_QUEUE = DATABASES["default"]["ENGINE"] == "ventures.postgresql"
DATABASE_ROUTERS = ["accounts.routers.TaskQueueRouter"]
PROCRASTINATE_WORKER_DEFAULTS = {
    # Finished jobs are history nobody reads: failed ones stay for the admin.
    "delete_jobs": "successful",
}

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Fail fast when Redis is down: callers degrade instead of waiting.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }

# STATIC FILES
# ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# INTERNATIONALISATION
# ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# LOGGING
# ------------------------------------------------------------------------------
# JSON lines in production (one event per line, for log search and alerts);
# readable lines in development.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "ventures.logs.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {"request_id": {"()": "ventures.logs.RequestIdFilter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["stdout"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's default handlers for its own loggers (a plain console copy in
    # development, mail to ADMINS) would log each 4xx and 5xx a second time:
    # its records reach the stdout handler above, once. runserver's access
    # line (django.server), like gunicorn's, is the request's other line.
    "loggers": {
        "django": {"handlers": [], "level": "NOTSET", "propagate": True},
        # procrastinate announces its tasks at every start: one line per task.
        "procrastinate.blueprints": {"level": "WARNING"},
        "procrastinate.periodic": {"level": "WARNING"},
    },
}

# METRICS
# ------------------------------------------------------------------------------
# /metrics answers these client addresses (or CIDRs) only, found by the
# TRUSTED_PROXIES rule; empty: nobody (404). An entry that is not an address
# stops the start here. PROMETHEUS_MULTIPROC_DIR is prometheus-client's own
# variable, read by it at import: gunicorn.conf.py sets it, so every worker
# counts into files there and a scrape adds them up.
METRICS_ALLOWED_IPS = [
    str(ipaddress.ip_network(entry, strict=False))
    for entry in env_list("METRICS_ALLOWED_IPS")
]
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")

# AUTHENTICATION
# ------------------------------------------------------------------------------
# https://docs.allauth.org/en/latest/account/configuration.html
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.AuthenticationBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = FRONTEND_ORIGINS[0] if FRONTEND_ORIGINS else "/api/auth/me"
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
# Patreon is the only way in: no local passwords, signup or email flows.
SOCIALACCOUNT_ONLY = True
ACCOUNT_EMAIL_VERIFICATION = "none"
# Accounts are keyed on the Patreon user id. Email is not an identifier here,
# so two Patreon accounts may share one and nothing is ever linked by it.
ACCOUNT_UNIQUE_EMAIL = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = env.float("PATREON_TIMEOUT", default=5.0)
# allauth's default cookie+session storage would add an unprefixed cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Login attempts: (hits, sliding window in seconds), counted in the cache
# every worker and instance shares (Redis, required in production: E070).
# "login" counts per client IP, Patreon logins and admin password logins
# alike; "login_username" per username typed into the admin's password form.
RATELIMITS = {
    "login": (env.int("RATELIMIT_LOGIN", default=20), 60),
    "callback": (env.int("RATELIMIT_CALLBACK", default=20), 60),
    "login_username": (env.int("RATELIMIT_LOGIN_USERNAME", default=5), 15 * 60),
}

# PATREON
# ------------------------------------------------------------------------------
# Every Patreon URL derives from the base URL, so development and tests can
# point it at the fake (python -m fake_patreon); production refuses http
# (ventures.E060).
PATREON_BASE_URL = env.str(
    "PATREON_BASE_URL", default="https://www.patreon.com"
).rstrip("/")
PATREON_CLIENT_ID = env.str("PATREON_CLIENT_ID", default="")
PATREON_CLIENT_SECRET = env.str("PATREON_CLIENT_SECRET", default="")
PATREON_CAMPAIGN_ID = env.str("PATREON_CAMPAIGN_ID", default="")
# A membership snapshot read longer ago than this (seconds) is reported
# stale by /api/auth/me; it is still served, the frontend decides.
PATREON_STALE_AFTER = env.int("PATREON_STALE_AFTER", default=24 * 60 * 60)
# Named entitlements, by tier id of our campaign: "supporter:77,pro:78|79"
# (ventures.entitlement_spec; a malformed value refuses to start, E090-E092).
# A Free tier entitles to something only when its id is listed.
PATREON_ENTITLEMENTS_VALUE = env.str("PATREON_ENTITLEMENTS", default="")
PATREON_ENTITLEMENTS = parse_entitlements(PATREON_ENTITLEMENTS_VALUE)
# A declined patron keeps their entitlements this long (seconds) after the
# last charge attempt: most declines are fixed within a week.
PATREON_DECLINE_GRACE = env.int("PATREON_DECLINE_GRACE", default=7 * 24 * 60 * 60)
# A snapshot read longer ago than this (seconds) entitles to nothing
# ("membership_stale"): logging in again re-reads it.
PATREON_ENTITLEMENT_MAX_AGE = env.int(
    "PATREON_ENTITLEMENT_MAX_AGE", default=72 * 60 * 60
)
# The secrets of the webhook registered for our campaign (each signs with its
# own): several during a rotation. None: the webhook answers 503 (W063).
PATREON_WEBHOOK_SECRETS = env_list("PATREON_WEBHOOK_SECRETS")
# The keys that seal the creator's stored token (Fernet keys, comma-separated):
# the first seals, every one opens, so a new key goes first and the old one
# stays until `manage.py patreon creator-token reseal` has run. Development
# generates one, kept in an ignored file like the development secret key.
PATREON_TOKEN_KEYS = env_list("PATREON_TOKEN_KEYS")
if not PATREON_TOKEN_KEYS and DEBUG:
    PATREON_TOKEN_KEYS = [
        kept_key(
            BASE_DIR / ".patreon-token-key",
            lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        )
    ]
SOCIALACCOUNT_PROVIDERS = {
    "patreon": {
        "provider_class": "accounts.patreon.provider.PatreonProvider",
        "APPS": [{"client_id": PATREON_CLIENT_ID, "secret": PATREON_CLIENT_SECRET}],
    }
}
