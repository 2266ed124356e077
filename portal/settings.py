"""Settings, all from the environment (see .env.example)."""

import os
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from portal.env import (
    PRIVATE_UMASK,
    env_bool,
    env_fernet_keys,
    env_int,
    env_issuer,
    env_list,
    env_networks,
    env_str,
    env_team_map,
    generated_secret,
    private_files,
    private_folder,
    random_token,
)

# Every process (runserver, gunicorn, qcluster and its workers, serve's children, any command)
# imports these settings first: from here on it writes files only its own user can read, and
# an older DATA_DIR left open to other users is closed before anything reads from it.
os.umask(PRIVATE_UMASK)
BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = private_folder(Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve())
for _folder in ("static", "mirrors", "bin", "home", "tmp"):
    private_folder(DATA_DIR / _folder)

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
IS_SQLITE = _db["ENGINE"] == "django.db.backends.sqlite3"
if IS_SQLITE:
    # Web and workers write at once: WAL, IMMEDIATE transactions and a busy timeout
    # keep SQLite from answering "database is locked".
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _db.setdefault("TEST", {})["NAME"] = str(DATA_DIR / "test-db.sqlite3")
    private_files(*(Path(f"{_db['NAME']}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")))
else:
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}

SECRET_KEY = generated_secret("SECRET_KEY", DATA_DIR / "secret_key", allowed=IS_SQLITE, make=random_token)
ENCRYPTION_KEY = generated_secret(
    "ENCRYPTION_KEY",
    DATA_DIR / "encryption_key",
    allowed=IS_SQLITE,
    make=lambda: Fernet.generate_key().decode(),
)
try:
    Fernet(ENCRYPTION_KEY)
except ValueError:
    raise ImproperlyConfigured("ENCRYPTION_KEY must be a Fernet key: 32 url-safe base64-encoded bytes.") from None
# Keys secrets were stored with before ENCRYPTION_KEY changed: still read, never written with;
# `manage.py rotate_secrets` moves every secret to ENCRYPTION_KEY so they can be dropped.
ENCRYPTION_OLD_KEYS = env_fernet_keys("ENCRYPTION_OLD_KEYS")

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
REDIS_URL = env_str("REDIS_URL")
HEROKU_GIT_URL = env_str("HEROKU_GIT_URL", "https://git.heroku.com/{app}.git")
# Remote URL patterns every app's admins may use (besides each app's own allowed_remotes); * is a wildcard.
ALLOWED_REMOTES = env_list("ALLOWED_REMOTES", "")
HEROKU_API_URL = env_str("HEROKU_API_URL", "https://api.heroku.com")
# GitHub's REST API, where deployments are reported (an operator setting: not held to the public-address rule).
GITHUB_API_URL = env_str("GITHUB_API_URL", "https://api.github.com")
# Networks (CIDRs) that webhooks and health checks may reach besides public addresses (portal/outbound.py).
OUTBOUND_ALLOWED_NETWORKS = env_networks("OUTBOUND_ALLOWED_NETWORKS")
# The portal's own address, for links in notifications and emails ("" leaves links out).
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

# Email (failure notices to the requester): printed to the console unless SMTP is configured.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "bartender@localhost")

# Deploy engine timings (seconds); tests shrink them.
DEPLOY_TIMEOUT = env_int("DEPLOY_TIMEOUT", 15 * 60, minimum=1)
DEPLOY_HEARTBEAT = env_int("DEPLOY_HEARTBEAT", 10, minimum=1)
DEPLOY_STALE_AFTER = env_int("DEPLOY_STALE_AFTER", 60, minimum=2)
# The reaper runs in every qcluster's main process this often (deployments/engine/shutdown.py).
DEPLOY_REAP_EVERY = env_int("DEPLOY_REAP_EVERY", 30, minimum=1)
# On SIGTERM a worker lets a running push go on this long, then ends it ("worker stopped").
DEPLOY_STOP_GRACE = env_int("DEPLOY_STOP_GRACE", 30, minimum=0)
# A deployment whose worker process on this machine died is settled from its remote this long
# after the death (not after DEPLOY_STALE_AFTER): the remote may still be finishing the lost push.
DEPLOY_LOST_GRACE = env_int("DEPLOY_LOST_GRACE", 10, minimum=0)
if DEPLOY_STALE_AFTER <= DEPLOY_HEARTBEAT:
    raise ImproperlyConfigured("DEPLOY_STALE_AFTER must be longer than DEPLOY_HEARTBEAT, or live pushes look dead.")
MIRROR_MAX_AGE = env_int("MIRROR_MAX_AGE", 10, minimum=0)
TASK_TIMEOUT = env_int("TASK_TIMEOUT", 30 * 60, minimum=60)
Q_WORKERS = env_int("Q_WORKERS", 2, minimum=1)
WORKER_NAME = env_str("WORKER_NAME")
# Tests only: a file holding the instant deploy policy should take as now (portal/clock.py).
CLOCK_FILE = env_str("CLOCK_FILE")
SSH_USE_WORKER_IDENTITY = env_bool("SSH_USE_WORKER_IDENTITY", False)
LOG_MAX_BYTES = env_int("LOG_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)

INSTALLED_APPS = [
    "portal.audit",  # first: its flush command replaces Django's
    "portal",
    "projects",
    "deployments",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_q",
    "ninja",
]

MIDDLEWARE = [
    "portal.middleware.ApiErrorsAsJson",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.DatabaseOutageAs503",
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
                "portal.context_processors.workers",
                "projects.context_processors.account_links",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Django's ModelBackend with a lockout (portal/accounts/services.py): each password check is
# reserved in the shared cache first; LOGIN_FAILURE_LIMIT failures lock a name from one address,
# ten times as many lock it from every address, for LOGIN_LOCKOUT_MINUTES.
# The second backend only keeps single sign-on sessions (portal/accounts/sso.py signs them in).
AUTHENTICATION_BACKENDS = ["portal.accounts.login.LockoutBackend", "portal.accounts.sso.SsoBackend"]
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)

# Single sign-on with OpenID Connect (CONTRACT.md "Single sign-on"); without an issuer, none.
OIDC_ISSUER = env_issuer("OIDC_ISSUER")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID").strip()
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "SSO").strip() or "SSO"
OIDC_SCOPES = env_str("OIDC_SCOPES", "openid profile email").split()
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups").strip() or "groups"
OIDC_TEAM_MAP = env_team_map("OIDC_TEAM_MAP")
OIDC_STAFF_GROUPS = env_list("OIDC_STAFF_GROUPS", "")
OIDC_REQUIRE_GROUP = env_bool("OIDC_REQUIRE_GROUP", False)
OIDC_ONLY = env_bool("OIDC_ONLY", False)
OIDC_BREAK_GLASS_USER = env_str("OIDC_BREAK_GLASS_USER").strip()
if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_ISSUER is set: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set too.")
if OIDC_ISSUER and "openid" not in OIDC_SCOPES:
    raise ImproperlyConfigured("OIDC_SCOPES must include openid, such as 'openid profile email'.")
if OIDC_ONLY and not OIDC_ISSUER:
    raise ImproperlyConfigured("OIDC_ONLY is true but OIDC_ISSUER is not set: nobody could sign in.")
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
SESSION_COOKIE_AGE = env_int("SESSION_HOURS", 12, minimum=1) * 60 * 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
# Served over https: browsers are told to keep to https (HSTS) for an hour; raise it once happy.
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 3600 if SESSION_COOKIE_SECURE else 0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the finders so a fresh checkout needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache carries django-q2's cluster statistics (live workers for /healthz) and the login
# lockout's counts across processes, so it must be shared: Redis when configured, else the database.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "bartender_cache",
            # Django's default (300) drops a third of the table whenever it is full, login
            # counts included; expired rows are dropped first, so this only bounds a flood.
            "OPTIONS": {"MAX_ENTRIES": 200_000},
        }
    }

# One attempt, failures acknowledged: a deploy is never re-run by the queue. `timeout` stays
# below `retry` so the ORM broker never hands a running task to a second worker.
Q_CLUSTER = {
    "name": "bartender",
    "workers": Q_WORKERS,
    "timeout": TASK_TIMEOUT,
    "retry": TASK_TIMEOUT + 120,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "recycle": env_int("Q_RECYCLE", 500, minimum=0) or None,
    "poll": 0.1,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "bartender": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
