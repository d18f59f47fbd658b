"""Django settings, read once from the environment (12-factor).

Defaults describe the `make run` stack (deploy/stack.py, profile dev); every
variable is listed in `.env.example`. Nothing else in the code base reads
os.environ for configuration.
"""

import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from instagram import rediskeys
from instagram.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENT = env_str("IG_ENVIRONMENT", "dev")
# The servers the ops commands act on (ops/topology.py); empty: none on this host.
TOPOLOGY = env_str("IG_TOPOLOGY", "")
# The local stacks (deploy/stack.py's profiles, docker-compose) run with the
# published development keys and over plain HTTP; every other environment is
# production-like and must bring its own keys (see the end of this module).
DEVELOPMENT = ENVIRONMENT in {"dev", "test", "compose"} or ENVIRONMENT.startswith("test-")
# The revision this process runs: fab deploy writes it into each release's
# REVISION file; Sentry events, /health and /metrics carry it.
_revision_file = BASE_DIR / "REVISION"
RELEASE = env_str("IG_RELEASE", _revision_file.read_text().strip() if _revision_file.exists() else "dev")
# The version the CHANGELOG names, kept in one place: pyproject.toml.
VERSION: str = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["version"]
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "local-dev-only-secret-key-not-for-production-use")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://localhost:8000")
# The same API over HTTPS (nginx terminates TLS): the base of the links in an
# answer to a request that came over HTTPS. Production's PUBLIC_BASE_URL is
# already https; the local stacks serve HTTPS on a port of its own.
_public = urlsplit(PUBLIC_BASE_URL)
PUBLIC_TLS_BASE_URL = env_str(
    "PUBLIC_TLS_BASE_URL", PUBLIC_BASE_URL if _public.scheme == "https" else f"https://{_public.hostname}"
)
APP_SERVER_NAME = env_str("APP_SERVER_NAME", "")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.postgres",
    "django.contrib.staticfiles",
    "oauth2_provider",
    "oauth",
    "sharding",
    "users",
    "relationships",
    "ratelimits",
    "photos",
    "feeds",
    "push",
    "sharing",
    "subscriptions",
    "workers",
    "monitoring",
    "ops",
    # Issue 18: users' reports, the operators' moderation tools, the API docs page's bundled Redoc.
    "reports",
    "moderation",
    "apidocs",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "monitoring.middleware.RequestMetricsMiddleware",
    "instagram.middleware.RequestLogMiddleware",
    "instagram.middleware.APIErrorMiddleware",
    # v1's request forms: the .json suffix, _method=DELETE, JSONP (instagram/v1compat.py).
    "instagram.v1compat.V1RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The admin's CSS and the docs page's Redoc, from STATIC_ROOT (collectstatic at
    # `stack.py up` and `fab deploy`): no nginx location to keep in step with each release folder.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    # For the web pages (/oauth/authorize, /admin/). All three are lazy: a v1
    # API request never touches the session, so it costs no Redis round trip.
    # No CsrfViewMiddleware: the mobile app's JSON POSTs carry no CSRF token;
    # the web forms are protected one by one with csrf_protect.
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The authorize page must not be framed (clickjacking of "Allow").
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "instagram.urls"
WSGI_APPLICATION = "instagram.wsgi.application"
AUTH_USER_MODEL = "users.User"
# The one password backend, so every log-in path (the mobile app's, the OAuth
# password grant, the OAuth and admin log-in pages) is throttled before its
# hash: see ratelimits/credentials.py.
AUTHENTICATION_BACKENDS = ["ratelimits.credentials.ThrottledModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 6}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
APPEND_SLASH = False
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# ------------------------------------------------------------ OAuth2 (v1 API)
# v1 tokens lived until revoked; a year here, renewed by logging in again.
ACCESS_TOKEN_EXPIRE_SECONDS = env_int("ACCESS_TOKEN_EXPIRE_SECONDS", 365 * 86400)
# Scopes as Instagram's API v1 named them; `basic` is granted by default.
API_SCOPES = {
    "basic": "read your profile and media",
    "comments": "post and delete comments on your behalf",
    "relationships": "follow and unfollow accounts on your behalf",
    "likes": "like and unlike media on your behalf",
    # The scopes v1 added in 2015, which apps of that era request: accepted and
    # shown on the consent page. Here `basic` already reads what they name
    # (public profiles and media, follower lists), so they widen nothing.
    "public_content": "read public profiles and media",
    "follower_list": "read the lists of your followers and of who you follow",
}
OAUTH2_PROVIDER = {
    "SCOPES": API_SCOPES,
    "DEFAULT_SCOPES": ["basic"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": ACCESS_TOKEN_EXPIRE_SECONDS,
    # v1's grants on one Application (code, implicit, trusted password) and
    # nothing else: see oauth/validators.py, oauth/server.py and
    # docs/architecture.md section 11.
    "OAUTH2_VALIDATOR_CLASS": "oauth.validators.V1OAuth2Validator",
    "OAUTH2_SERVER_CLASS": "oauth.server.V1Server",
    # v1 had no PKCE: confidential clients prove themselves with their secret.
    # A client that sends a code_challenge still has it checked.
    "PKCE_REQUIRED": False,
    # Tokens as v1 made them, `<user id>.<app>.<32 hex>` (oauth/tokens.py);
    # refresh tokens (no v1 grant issues one) stay plain random.
    "ACCESS_TOKEN_GENERATOR": "oauth.tokens.generate_access_token",
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
}
# Per token (or client, or address for sign-up and log-in), in a sliding hour;
# a client's own limits (ratelimits.ClientLimit, in the admin) replace these.
RATE_LIMIT_REQUESTS_PER_HOUR = env_int("RATE_LIMIT_REQUESTS_PER_HOUR", 5000)
RATE_LIMIT_WRITES_PER_HOUR = env_int("RATE_LIMIT_WRITES_PER_HOUR", 500)
# Failed credential checks (passwords, client secrets) allowed per window, by
# address (any credential), by account (username) and by app (client_id).
CREDENTIAL_WINDOW_SECONDS = env_int("CREDENTIAL_WINDOW_SECONDS", 900)
CREDENTIAL_FAILURES_PER_ADDRESS = env_int("CREDENTIAL_FAILURES_PER_ADDRESS", 100)
CREDENTIAL_FAILURES_PER_ACCOUNT = env_int("CREDENTIAL_FAILURES_PER_ACCOUNT", 10)
CREDENTIAL_FAILURES_PER_CLIENT = env_int("CREDENTIAL_FAILURES_PER_CLIENT", 20)
# DOT's models, named so that other apps' migrations can refer to them.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
# The first-party mobile app's client id; its token endpoints live under /v1/accounts/.
MOBILE_CLIENT_ID = env_str("MOBILE_CLIENT_ID", "instagram-iphone")

# --------------------------------------------------------------------- PostgreSQL
# Django reaches PostgreSQL only through pgbouncer in transaction pooling mode.
# The aliases are pgbouncer database names: `main` (accounts and other small
# tables), the physical shard databases, and a `_replica` twin of each that
# pgbouncer points at the streaming standby.
DB_HOST = env_str("DB_HOST", "127.0.0.1")
DB_PORT = env_int("DB_PORT", 16432)
DB_REPLICA_HOST = env_str("DB_REPLICA_HOST", DB_HOST)
DB_REPLICA_PORT = env_int("DB_REPLICA_PORT", DB_PORT)
DB_USER = env_str("DB_USER", "instagram")
DB_PASSWORD = env_str("DB_PASSWORD", "instagram")
DB_MAIN = env_str("DB_MAIN", "main")
DB_SHARDS = env_list("DB_SHARDS", "shard0,shard1")
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 300)


def _database(name: str, *, host: str, port: int) -> dict[str, object]:
    return {
        "ENGINE": "instagram.postgresql",  # Django's, with a health check without a round trip
        "NAME": name,
        "USER": DB_USER,
        "PASSWORD": DB_PASSWORD,
        "HOST": host,
        "PORT": port,
        "CONN_MAX_AGE": DB_CONN_MAX_AGE,
        "CONN_HEALTH_CHECKS": True,
        # Server-side cursors and prepared statements are session state that
        # transaction pooling would hand to another client.
        "DISABLE_SERVER_SIDE_CURSORS": True,
        "OPTIONS": {"connect_timeout": 3, "application_name": "instagram"},
    }


# Physical shard aliases, in shard-map order (the sharding layer maps logical
# shards onto these).
SHARD_DATABASES = list(DB_SHARDS)
# Each primary alias and the alias of its streaming-standby twin.
REPLICA_DATABASES = {alias: f"{alias}_replica" for alias in ["default", *SHARD_DATABASES]}

DATABASES: dict[str, dict[str, object]] = {
    "default": _database(DB_MAIN, host=DB_HOST, port=DB_PORT),
    **{alias: _database(alias, host=DB_HOST, port=DB_PORT) for alias in SHARD_DATABASES},
}
for _primary, _replica in REPLICA_DATABASES.items():
    _name = str(DATABASES[_primary]["NAME"])
    DATABASES[_replica] = _database(f"{_name}_replica", host=DB_REPLICA_HOST, port=DB_REPLICA_PORT)
DATABASE_ROUTERS = ["sharding.router.ShardRouter", "instagram.routers.MainDatabaseRouter"]

# Logical shards (schemas) spread over SHARD_DATABASES by the map in the main
# database (sharding.models.Shard). At most 8192, the 13 bits IDs give them.
LOGICAL_SHARDS = env_int("LOGICAL_SHARDS", 256)
SHARD_MAP_TTL = 2.0  # seconds a process trusts its cached copy of the map
READ_YOUR_WRITES_SECONDS = env_int("READ_YOUR_WRITES_SECONDS", 5)
REPLICA_RETRY_SECONDS = 30.0  # after a failed replica connection, primary only for this long

# ----------------------------------------------------------- Redis, memcached
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:16379/0")
REDIS_REPLICA_URL = env_str("REDIS_REPLICA_URL", "redis://127.0.0.1:16380/0")
# Feeds, news and the photo -> user map: their own instances, sharded by user
# id over the list (instagram/redis_client.py), each with a replica. Unset,
# they share the main instance (one Redis, as docker-compose runs).
REDIS_FEED_URLS = env_list("REDIS_FEED_URLS", REDIS_URL)
REDIS_FEED_REPLICA_URLS = env_list("REDIS_FEED_REPLICA_URLS", REDIS_REPLICA_URL)
if len(REDIS_FEED_REPLICA_URLS) != len(REDIS_FEED_URLS):
    raise ImproperlyConfigured("REDIS_FEED_REPLICA_URLS needs one replica for each of REDIS_FEED_URLS")
# host:port of each Redis Sentinel; set, every primary is looked up there by
# name (main, feed-0, feed-1 ...) and a promotion is followed without a restart.
REDIS_SENTINELS = env_list("REDIS_SENTINELS", "")
# The Sentinels' own password (their requirepass), given before any question;
# empty: they take none (the local stack's, on loopback).
REDIS_SENTINEL_PASSWORD = env_str("REDIS_SENTINEL_PASSWORD", "")

MEMCACHED_SERVERS = env_list("MEMCACHED_SERVERS", "127.0.0.1:11311")
CACHES: dict[str, dict[str, object]] = {
    "default": {
        # Django's pylibmc backend, made whole again by a fresh client after a
        # memcached restart (instagram/memcached.py).
        "BACKEND": "instagram.memcached.ReconnectingPyLibMCCache",
        "LOCATION": MEMCACHED_SERVERS,
        "TIMEOUT": 3600,
        "OPTIONS": {
            # The text protocol: libmemcached's binary protocol never takes a
            # server back after it restarted (and memcached deprecated it).
            "binary": False,
            "behaviors": {
                "tcp_nodelay": True,
                "ketama": True,
                "connect_timeout": 1000,  # ms
                # A black-holed memcached fails a call in about a second
                # (libmemcached's defaults wait seconds), then a 503.
                "_poll_timeout": 1000,  # ms
                "send_timeout": 1_000_000,  # us
                "receive_timeout": 1_000_000,  # us
                "retry_timeout": 1,  # s before a failed server is tried again
            },
        },
    },
    # Web sessions (the OAuth pages, the admin) live in Redis, shared by every
    # app server (SESSION_ENGINE below); key layout in instagram/rediskeys.py.
    "sessions": {
        # Django's Redis backend on the main instance's client, so sessions
        # follow a Sentinel promotion too.
        "BACKEND": "instagram.session_cache.MainRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": rediskeys.SESSION_PREFIX,
        "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
    },
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_CACHE_ALIAS = "sessions"

# ------------------------------------------------------------------- Gearman
GEARMAN_SERVERS = env_list("GEARMAN_SERVERS", "127.0.0.1:14730")
# A failed job is retried after this many seconds, doubling each attempt
# (with jitter), until its function's max_attempts; then it is a dead letter.
JOB_RETRY_SECONDS = env_float("JOB_RETRY_SECONDS", 2.0)

# --------------------------------------------------------------------- Feeds
# Newest media ids kept per feed in Redis; older pages come from PostgreSQL.
FEED_SIZE = env_int("FEED_SIZE", 500)
# Accounts with more followers than this are not fanned out on write: their
# recent media are merged into each follower's feed when it is read.
FEED_FANOUT_MAX_FOLLOWERS = env_int("FEED_FANOUT_MAX_FOLLOWERS", 100_000)
# Followers written per fan-out job; a bigger list is split over many jobs.
FEED_FANOUT_CHUNK = env_int("FEED_FANOUT_CHUNK", 2_000)
# A feed nobody reads for this long expires, and is rebuilt on the next read.
FEED_TTL_SECONDS = env_int("FEED_TTL_SECONDS", 30 * 86400)
# Entries kept in each of a user's two news lists ("you", "following").
NEWS_SIZE = env_int("NEWS_SIZE", 100)

# -------------------------------------------------- Secrets stored encrypted
# Comma-separated; the first encrypts, all decrypt (instagram/crypto.py).
FIELD_ENCRYPTION_KEYS = env_list(
    "FIELD_ENCRYPTION_KEYS", "local-dev-only-encryption-key-not-for-production-use"
)

# --------------------------------------------------- Real-time subscriptions
# Whether a subscription's callback_url may resolve to a loopback, private,
# link-local or otherwise non-public address. Off in production: the API
# would otherwise GET and POST on a client's behalf into our own network
# (SSRF). The local stacks turn it on, for callbacks on 127.0.0.1.
SUBSCRIPTION_CALLBACKS_ALLOW_PRIVATE = env_bool("SUBSCRIPTION_CALLBACKS_ALLOW_PRIVATE", False)

# ------------------------------------------- Push notifications (APNS HTTP/2)
APNS_HOST = env_str("APNS_HOST", "127.0.0.1")  # api.push.apple.com in production
APNS_PORT = env_int("APNS_PORT", 14443)
APNS_CA_FILE = env_str("APNS_CA_FILE", "")  # empty: the system's trust store
APNS_KEY_FILE = env_str("APNS_KEY_FILE", "")  # the .p8 signing key Apple issues
APNS_KEY_ID = env_str("APNS_KEY_ID", "")
APNS_TEAM_ID = env_str("APNS_TEAM_ID", "")
APNS_TOPIC = env_str("APNS_TOPIC", "com.burbn.instagram")

# ------------------------------------------------- Sharing (Twitter, Facebook)
TWITTER_API_URL = env_str("TWITTER_API_URL", "http://127.0.0.1:14801").rstrip("/")
TWITTER_CONSUMER_KEY = env_str("TWITTER_CONSUMER_KEY", "local-consumer-key")
TWITTER_CONSUMER_SECRET = env_str("TWITTER_CONSUMER_SECRET", "local-consumer-secret")
FACEBOOK_API_URL = env_str("FACEBOOK_API_URL", "http://127.0.0.1:14802").rstrip("/")

# ------------------------------------------------------------ S3 and the CDN
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL", "http://127.0.0.1:19000")
S3_BUCKET = env_str("S3_BUCKET", "instagram-media")
S3_REGION = env_str("S3_REGION", "us-east-1")
# PostgreSQL base backups and WAL, Redis dumps (ops/): not the media bucket,
# which the CDN serves publicly.
BACKUP_BUCKET = env_str("BACKUP_BUCKET", "instagram-backups")
AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID", "local")
AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY", "local")
CDN_URL = env_str("CDN_URL", "http://localhost:8001").rstrip("/")
_cdn = urlsplit(CDN_URL)
# Where the app servers send purges (docs/cdn.md): our nginx CDN, asked for
# each URL with `X-CDN-Purge: 1` from an address its geo block allows. Empty
# where the CDN is CloudFront (or any CDN without that protocol): nothing is
# sent, and deleted photos' copies age out there (keys are never reused).
CDN_PURGE_URL = env_str("CDN_PURGE_URL", CDN_URL).rstrip("/")

STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": S3_ENDPOINT_URL or None,
            "region_name": S3_REGION,
            "access_key": AWS_ACCESS_KEY_ID,
            "secret_key": AWS_SECRET_ACCESS_KEY,
            "addressing_style": "path",
            # Objects are public through the CDN host, never signed S3 URLs.
            "custom_domain": _cdn.netloc + _cdn.path,
            "url_protocol": f"{_cdn.scheme}:",
            "querystring_auth": False,
            "file_overwrite": False,
            "default_acl": None,
            "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
        },
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# ------------------------------------------------- Monitoring and alerting
# docs/monitoring.md. Errors go to Sentry when a DSN is set (monitoring.sentry).
SENTRY_DSN = env_str("SENTRY_DSN", "")
# Who may read /metrics: networks (CIDR), comma-separated; the peer and the
# client nginx saw must both be in one.
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1/32,::1/128")
# Who gets /health's per-component report (the rest get up/down only), by
# the same rule: loopback and the private networks app hosts and monitors
# live on.
HEALTH_ALLOWED_IPS = env_list(
    "HEALTH_ALLOWED_IPS", "127.0.0.1/32,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
)
# Alerts (monitoring.alerts): the Events API v2 endpoint and integration key.
PAGERDUTY_EVENTS_URL = env_str("PAGERDUTY_EVENTS_URL", "https://events.pagerduty.com/v2/enqueue")
PAGERDUTY_ROUTING_KEY = env_str("PAGERDUTY_ROUTING_KEY", "")

# ------------------------------------------------------------------- Mail
# Password resets (users.actions), with Django's own SMTP backend; the local
# stacks point it at the SMTP sandbox (sandboxes/smtp.py).
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10.0)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "no-reply@instagram.local")
# How long a password-reset token stays valid (Django's PasswordResetTokenGenerator).
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3600)
# The health report an alert checker polls, like an external monitor would.
ALERT_HEALTH_URL = env_str("ALERT_HEALTH_URL", f"{PUBLIC_BASE_URL.rstrip('/')}/health")
# Health pages after this many failed checks in a row, or this long failing.
ALERT_HEALTH_FAILURES = env_int("ALERT_HEALTH_FAILURES", 3)
ALERT_HEALTH_SECONDS = env_float("ALERT_HEALTH_SECONDS", 120.0)
# Fan-out pages when its oldest unfinished post is older than this.
ALERT_FANOUT_LAG_SECONDS = env_float("ALERT_FANOUT_LAG_SECONDS", 300.0)
# Seconds between two rounds of `manage.py alert_watch`.
ALERT_INTERVAL_SECONDS = env_float("ALERT_INTERVAL_SECONDS", 30.0)

# ------------------------------------------------------------------- Logging
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# text: one readable line per record; json: one JSON object per line
# (instagram/logformat.py), what production ships to its log store.
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEVELOPMENT else "json")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "instagram.requestid.RequestIdFilter"}},
    "formatters": {
        "line": {
            "format": "%(asctime)s %(levelname)s %(process)d [%(request_id)s] %(name)s: %(message)s",
        },
        "json": {"()": "instagram.logformat.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "line" if LOG_FORMAT == "text" else "json",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "gearman": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
    },
}

# ------------------------------------------------- Production (TLS at nginx)
# The keys above default to published development values: a production-like
# environment that kept one (or never set it) would sign sessions and encrypt
# stored secrets with a key anyone can read on GitHub. Refuse to start.
_DEVELOPMENT_KEY_MARKERS = ("local-", "change-me", "not-for-production")


def _refuse_development_key(name: str, value: str) -> None:
    if any(marker in value for marker in _DEVELOPMENT_KEY_MARKERS) or len(value) < 50:
        raise ImproperlyConfigured(
            f"{name} is missing or a development key, and IG_ENVIRONMENT={ENVIRONMENT!r} is not a"
            " local stack: set it to at least 50 random characters (see .env.example)."
        )


if not DEVELOPMENT:
    _refuse_development_key("DJANGO_SECRET_KEY", SECRET_KEY)
    for _key in FIELD_ENCRYPTION_KEYS:
        _refuse_development_key("FIELD_ENCRYPTION_KEYS", _key)

# nginx terminates TLS and always overwrites X-Forwarded-Proto with its own
# $scheme (proxy_set_header), and only nginx reaches the app servers' port:
# the header can be trusted, whatever a client sends.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = not DEVELOPMENT
# Monitors and fab status ask the app servers directly, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
SECURE_HSTS_SECONDS = 0 if DEVELOPMENT else 365 * 86400
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEVELOPMENT
SECURE_HSTS_PRELOAD = not DEVELOPMENT
SESSION_COOKIE_SECURE = not DEVELOPMENT
CSRF_COOKIE_SECURE = not DEVELOPMENT
SILENCED_SYSTEM_CHECKS = [
    # No CsrfViewMiddleware on purpose (see MIDDLEWARE): the v1 API's clients
    # send no CSRF token, and each web form is wrapped in csrf_protect.
    "security.W003",
    # django-oauth-toolkit's RFC 9700 warnings name what the v1 contract is
    # (DESIGN.md: clients of the era work unchanged): the implicit and the
    # trusted password grants, access_token in the query string, no PKCE,
    # no `iss` in the redirect, http loopback redirect URIs of native apps,
    # no refresh tokens to replay. The two that are not contract, "plain"
    # PKCE and tokens stored in plaintext, are follow-ups of the OAuth code
    # to do in the OAuth code, not silenced by ignorance.
    *(f"oauth2_provider.W{n:03d}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 10)),
]
