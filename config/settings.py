"""Settings for the membership operations console, read from the environment (see .env.example)."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# A deployment sets DJANGO_PRODUCTION=true and must then give its own secret key; the local
# console and the tests run with a fixed development key.
PRODUCTION = env.bool("DJANGO_PRODUCTION", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY: a production deployment has no default secret key.")
    SECRET_KEY = "local-console-development-key-not-for-production"
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

# HTTPS: on by default in production, off for the local console on http://127.0.0.1. Behind a
# proxy that ends TLS, DJANGO_SECURE_PROXY_SSL_HEADER names the header it sets (for example
# HTTP_X_FORWARDED_PROTO, with the value https), so redirects and secure cookies see the request as HTTPS.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Asking browsers to preload HSTS binds the whole domain to HTTPS for good: the domain's owner
# opts in (DJANGO_SECURE_HSTS_PRELOAD=true), so its absence is not a deployment fault.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=PRODUCTION)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
if proxy_header := env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default=""):
    SECURE_PROXY_SSL_HEADER = (proxy_header, "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "import_export",
    "auditlog",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "membership",
    "points",
    "benefits",
    "subscriptions",
    "invitations",
    "riskcontrol",
    "campaigns",
    "segments",
    "mall",
    "api",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "membership.middleware.ProgramTimeZoneMiddleware",
    "common.uploads.UploadLimitMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a writer instead of failing at once, and let readers run beside it. A transaction
    # takes the write lock when it begins, so two writers queue instead of one failing when it
    # would upgrade its lock ("database is locked").
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "transaction_mode": "IMMEDIATE"}
    )
else:
    # Each server process keeps its connection between requests (checked before it is reused):
    # opening one costs more than a booking's statements.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env("DJANGO_LANGUAGE_CODE", default="en")
FORMAT_MODULE_PATH = ["config.formats"]  # figures grouped by three in both languages (config/formats)
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

# Celery: Redis is the broker in production. The local console (make run) runs tasks in-process
# by setting CELERY_TASK_ALWAYS_EAGER so it needs no other server.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default="redis://127.0.0.1:6379/1")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A worker that starts settles a month the schedule missed while no worker was running.
SETTLEMENT_CATCH_UP_ON_START = env.bool("SETTLEMENT_CATCH_UP_ON_START", default=True)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

IMPORT_EXPORT_SKIP_ADMIN_LOG = False
# Importing needs the model's "add" permission and exporting its "view" permission.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
# The front-page dashboard's figures are computed at most this often.
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", default=300)
# Admin uploads larger than this become an import job run by a Celery worker, not the web request.
# Where imports keep their staging tables and uploads while they run (a directory per import,
# removed when it ends; the system's temporary directory if empty).
SCRATCH_DIR = env.str("SCRATCH_DIR", default="")
# The largest file anyone may upload; a larger one is stopped as it arrives, before it reaches the disk.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=512 * 1024 * 1024)
FILE_UPLOAD_HANDLERS = [
    "common.uploads.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
IMPORT_IN_REQUEST_MAX_BYTES = env.int("IMPORT_IN_REQUEST_MAX_BYTES", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# The audit log (django-auditlog): every change staff make to these, with who, when, before and after.
# Ledgers are not listed: they are insert-only and carry who and why themselves.
AUDITLOG_INCLUDE_TRACKING_MODELS = (
    {"model": "membership.program", "exclude_fields": ["updated_at"]},
    "membership.level",
    "membership.earningrule",
    {"model": "membership.member", "exclude_fields": ["updated_at"]},
    "membership.importjob",
    "benefits.benefit",
    "mall.mallitem",
    "mall.mallprice",
    "subscriptions.plan",
    {"model": "subscriptions.subscription", "exclude_fields": ["trial_settled"]},
    "invitations.invitationpolicy",
    "mall.lottery",
    "mall.lotteryprize",
    "mall.cashoffsetpolicy",
    "mall.cashoffsetexception",
    "riskcontrol.manualadjustment",
    "riskcontrol.listentry",
    "riskcontrol.blockedcredit",
    "riskcontrol.anomalyrule",
    "riskcontrol.alert",
    {"model": "auth.user", "exclude_fields": ["password", "last_login"], "m2m_fields": ["groups", "user_permissions"]},
    {"model": "auth.group", "m2m_fields": ["permissions"]},
    "django_celery_beat.periodictask",
    "django_celery_beat.crontabschedule",
)

# The platform API (Django REST framework, its schema by drf-spectacular): keys in the
# Authorization header, JSON only, errors as problem documents, a rate limit per key.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.ScopeRequired"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.LimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "UNICODE_JSON": True,
    "STRICT_JSON": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Membership platform API",
    "DESCRIPTION": (
        "How the platform's systems book orders, members and behaviours, read a member's level and points, "
        "spend on a member's behalf and follow the product's events. Send `Authorization: Bearer KEY`; "
        "errors are `application/problem+json` (RFC 9457)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
# Requests a minute per key, unless the key says otherwise; and the largest request body taken.
API_RATE_PER_MINUTE = env.int("API_RATE_PER_MINUTE", default=6000)
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=2 * 1024 * 1024)
# Webhooks: how long a receiver may take to answer, and for how long a delivery is retried.
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=10)
WEBHOOK_RETRY_HOURS = env.int("WEBHOOK_RETRY_HOURS", default=24)
# A worker leases this many deliveries at a time (one per subscription and member) and POSTs them
# from this many threads.
WEBHOOK_BATCH_SIZE = env.int("WEBHOOK_BATCH_SIZE", default=100)
WEBHOOK_SENDERS = env.int("WEBHOOK_SENDERS", default=8)
# Shared by every server process: the API's rate counters (and the dashboard's figures). Redis in
# production (CACHE_URL, e.g. redis://127.0.0.1:6379/2); in-process memory for the local console.
CACHE_URL = env("CACHE_URL", default="redis://127.0.0.1:6379/2" if PRODUCTION else "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}
