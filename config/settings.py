"""Settings come from the environment (django-environ); the defaults run the embedded product.

Embedded default: SQLite and files under var/, Celery on a file-system broker, mail written to
var/mail. Production: DATABASE_URL, REDIS_URL, S3 settings and an SMTP URL or an ESP.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from tenants.secret_key import DEVELOPMENT_SECRET_KEY, secret_key_problem

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # the embedded default keeps its files here

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# Development (DEBUG=1, as `make run` sets) may use the public development key; with DEBUG off
# the product refuses to start on it or on a weak key (also reported by `check --deploy`).
SECRET_KEY = env.str("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
if not DEBUG and (_problem := secret_key_problem(SECRET_KEY)):
    raise ImproperlyConfigured(_problem)
# Encrypts SMTP and IMAP passwords at rest; falls back to SECRET_KEY-derived key.
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")

BASE_DOMAIN = env.str("BASE_DOMAIN", default="localhost")
# The domain in our Message-IDs; mail whose ids end in it is ours (loops are dropped).
MAIL_DOMAIN = env.str("MAIL_DOMAIN", default="helpdesk.localhost")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
PUBLIC_SCHEME = env.str("PUBLIC_SCHEME", default="http")
PUBLIC_PORT = env.str("PUBLIC_PORT", default="8000")
# Proxies in front of the app that append to X-Forwarded-For; 0: the client is REMOTE_ADDR (the
# header is anyone's to write). Sign-in throttling counts failures per client address.
TRUSTED_PROXY_HOPS = env.int("TRUSTED_PROXY_HOPS", default=0)

INSTALLED_APPS = [
    # First: its `runserver` (ASGI, HTTP and websockets on one port) replaces Django's.
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "csp",  # django-csp: the Content-Security-Policy header
    "tenants",
    "tickets",
    "inbound_mail",
    "outbound_mail",
    "sla",
    "automations",
    "portal",
    "channels",
    "live",  # pushed updates, presence and drafts over websockets (docs/architecture.md)
    "search",  # full-text search: the list's text filter, the top bar's results
    "reports",  # Reports: daily rollups, charts, CSV
    "demo",  # seed_demo; above every other app
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "tenants.security_headers.PrivatePagesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tenants.middleware.TenantMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.middleware.MembershipMiddleware",
    "tenants.middleware.SessionActivityMiddleware",
    "tenants.middleware.SettingsAuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
PLATFORM_URLCONF = "config.urls_platform"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "tenants.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tickets:list"
LOGOUT_REDIRECT_URL = "login"

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
                "tenants.context_processors.tenant",
                "tickets.context_processors.rail",
                "portal.context_processors.portal",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'helpdesk.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process, the worker and beat share one SQLite file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL and (_xdist_worker := os.environ.get("PYTEST_XDIST_WORKER", "")).startswith("gw"):
    # The suite in parallel (pytest-xdist): each worker gets its own Redis database (1, 2, ...),
    # as it gets its own test database, so one worker's flush or session purge never reaches
    # another's. Only ever set by pytest-xdist.
    REDIS_URL = urlsplit(REDIS_URL)._replace(path=f"/{1 + int(_xdist_worker[2:])}").geturl()
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "config.cache.KeptClientRedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    # Not a rule: its password_changed hook ends the user's other sessions on a new password.
    {"NAME": "tenants.sessions.EndSessionsOnPasswordChange"},
]
PASSWORD_HASHERS = env.list(
    "PASSWORD_HASHERS", default=["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            # Path style (endpoint/bucket/key): MinIO and other self-hosted endpoints have no
            # per-bucket DNS names.
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="path"),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": True,
        },
    }
else:
    DEFAULT_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MAX_UPLOAD_SIZE = env.int("MAX_UPLOAD_SIZE", default=25 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Mail: the embedded default keeps outgoing mail readable under var/mail.
EMAIL_FILE_PATH = VAR_DIR / "mail"
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="helpdesk@localhost")

# Celery: Redis in production; a file-system broker in the embedded default (no service needed).
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    CELERY_BROKER_URL = "filesystem://"
    for folder in ("queue", "control"):  # kombu's file-system transport expects them to exist
        (VAR_DIR / "broker" / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE: dict = {}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Celery's Django fixup closes the database connection before and after every task unless told
# to reuse it; a new PostgreSQL connection per task cost ~80 ms per outgoing message in
# bench/outbound.py. Reused for this many tasks, then reopened.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=500)

# Inbound mail. Larger messages are stored and quarantined with the reason instead of processed.
INBOUND_MAX_BYTES = env.int("INBOUND_MAX_BYTES", default=25 * 1024 * 1024)
# Messages stored together (an IMAP fetch, an mbox) are processed in tasks of up to this many.
INBOUND_BATCH_SIZE = env.int("INBOUND_BATCH_SIZE", default=100)
# Messages stored one at a time (webhooks, pipes, LMTP) are processed together with the others
# of their tenant arriving within this many seconds (inbound_mail.gather); 0: each on its own.
INBOUND_GATHER_SECONDS = env.float("INBOUND_GATHER_SECONDS", default=0.2)
CELERY_BEAT_SCHEDULE.update(
    {
        "inbound-poll-mailboxes": {"task": "inbound_mail.poll_mailboxes", "schedule": 60.0},
        "inbound-sweep": {"task": "inbound_mail.sweep", "schedule": 60.0},
    }
)
# The MTA doors. The LMTP server (`manage.py lmtp_server`, started by `make run`) listens on
# LMTP_HOST:LMTP_PORT; bin/helpdesk-mailgate posts piped mail to /inbound/mailgate/ on the
# platform host with MAILGATE_SECRET as its bearer token (refused with 503 while unset).
LMTP_HOST = env.str("LMTP_HOST", default="127.0.0.1")
LMTP_PORT = env.int("LMTP_PORT", default=8024)
MAILGATE_SECRET = env.str("MAILGATE_SECRET", default="")
# ESP inbound webhooks (django-anymail): WEBHOOK_SECRET is the HTTP basic auth "user:password"
# every ESP posts with (several, comma-separated, while rotating); Mailgun also signs its posts.
ANYMAIL = {
    "WEBHOOK_SECRET": env.list("ANYMAIL_WEBHOOK_SECRET", default=[]),
    "MAILGUN_WEBHOOK_SIGNING_KEY": env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
}

# Outgoing mail. The platform's connection is EMAIL_BACKEND: Django's SMTP backend (EMAIL_URL)
# or an ESP through django-anymail, e.g. EMAIL_BACKEND=anymail.backends.postmark.EmailBackend
# with ANYMAIL_ESP='{"POSTMARK_SERVER_TOKEN": "..."}'. ESP tracking webhooks post to
# /tracking/<esp>/ on the platform host with the same WEBHOOK_SECRET.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=EMAIL_BACKEND)
ANYMAIL.update(env.json("ANYMAIL_ESP", default={}))
# Tenants' own SMTP servers must be public hosts (no SSRF into this network); a single-company
# install with a mail relay on its LAN, or the tests' loopback server, may allow private ones.
OUTBOUND_SMTP_ALLOW_PRIVATE_HOSTS = env.bool("OUTBOUND_SMTP_ALLOW_PRIVATE_HOSTS", default=False)
# The same for tenants' IMAP mailboxes (test connection and polling; tenants/egress.py).
INBOUND_IMAP_ALLOW_PRIVATE_HOSTS = env.bool("INBOUND_IMAP_ALLOW_PRIVATE_HOSTS", default=False)
# Beat sends what has come due (debounced updates, retries) and returns rows a dead worker left
# `sending`; the debounce is per tenant (two minutes by default), so 15 s is precise enough.
CELERY_BEAT_SCHEDULE.update(
    {
        "outbound-dispatch-due": {"task": "outbound_mail.dispatch_due", "schedule": 15.0},
        "outbound-sweep-stuck": {"task": "outbound_mail.sweep_stuck", "schedule": 300.0},
    }
)
# SLA: warnings and breaches whose time has come, every minute (sla.services.scan).
CELERY_BEAT_SCHEDULE["sla-scan"] = {"task": "sla.scan", "schedule": 60.0}
# Time-based automation rules ("pending for 72 hours"): automations.services.scan.
CELERY_BEAT_SCHEDULE["automations-time-scan"] = {
    "task": "automations.time_scan",
    "schedule": 120.0,
}

# Reports (the `reports` app): the daily rollups catch up with the ticket timeline.
CELERY_BEAT_SCHEDULE["reports-refresh"] = {"task": "reports.refresh", "schedule": 300.0}

# Live updates (the `live` app): websockets share the web's port. With REDIS_URL the channel
# layer is Redis (every web process and every worker reach every socket; the prefix keeps
# deployments on one Redis apart); without it the layer lives in the web process and other
# processes (the worker, commands) post their messages to it over loopback: LIVE_RELAY_URL is
# the web process as they reach it (`make run` sets it; unset: nothing is relayed).
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 times a read out after 5 s by default, and channels-redis waits in
                # BZPOPMIN for 5 s: every idle socket died with 1011 (channels_redis #422).
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": env.str("LIVE_CHANNEL_PREFIX", default="helpdesk-live"),
                # A tab that stops reading (a frozen laptop) loses its oldest pushes, not the
                # server's memory; it catches up when it reconnects.
                "capacity": 200,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 200}}
    }
LIVE_RELAY_URL = env.str("LIVE_RELAY_URL", default="")
# A page's frames are small (the consumer answers `too_large` past 4 KB); the server drops a
# connection sending a message past this before it is buffered whole (daphne's runserver; the
# docker-compose web passes the same to daphne).
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = 64 * 1024
DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = 64 * 1024

# Sessions live in the database and are read through the cache (one query saved per request).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PUBLIC_SCHEME == "https"
CSRF_COOKIE_SECURE = PUBLIC_SCHEME == "https"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts and style sheets only from our own files (the
# base page's accent-colour <style> carries a nonce); style attributes stay allowed because
# sanitised mail keeps its inline formatting (nh3 filters the properties) and priorities carry
# their colour in one. Images: ours, data: and inline cid: parts (served by our attachment view);
# never remote ones on a page: a message's images show in a frame of their own when the agent
# asks (tickets.remote_images, tenants.security_headers.allow_remote_images).
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE  # noqa: E402  # beside its use

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        # 'self' covers the live websocket on the page's own host (ws: and wss:, CSP Level 3).
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_REFERRER_POLICY = "same-origin"
# Behind https (PUBLIC_SCHEME=https): HSTS for the tenants' subdomains too, cookies only over
# TLS. SECURE_PROXY_SSL_HEADER names the header a TLS-terminating proxy sets, e.g.
# "HTTP_X_FORWARDED_PROTO,https"; unset, requests are as secure as they arrive.
_HTTPS = PUBLIC_SCHEME == "https"
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if _HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=_HTTPS)
SECURE_PROXY_SSL_HEADER = tuple(env.list("SECURE_PROXY_SSL_HEADER", default=[])) or None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain http
CSRF_FAILURE_VIEW = "tickets.views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
