"""Settings, read from the environment only.

Every value a deployment can change comes from an environment variable read through the
small typed helpers below, which fail loudly on a value they cannot parse. Production secrets
have no default: without DEBUG, a missing SECRET_KEY or FIELD_ENCRYPTION_KEYS stops start-up.
"""

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"The environment variable {name} must be set.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false).")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY", "insecure-development-key" if DEBUG else None)

# Fernet keys for server credentials at rest, newest first. Adding a key at the front and
# running `manage.py rotate_credentials` re-encrypts every secret with it (MultiFernet).
FIELD_ENCRYPTION_KEYS = env_list(
    "FIELD_ENCRYPTION_KEYS",
    # A fixed key for DEBUG only, so a fresh checkout starts without ceremony.
    "x0QHFrAwbH3MZ4hyNVwKg0YnrcLiVhGR8P7vyiIcCDQ=" if DEBUG else None,
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else None)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    # First, so that its management commands stand before Django's (changepassword).
    "portal",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",  # allauth's security key list
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "axes",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "upgrades",
    "scheduling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.RefuseNulMiddleware",
    "portal.security.ClientAddressMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "portal.middleware.TimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After the messages: an ended session is told why on the log-in page.
    "portal.middleware.SessionLifetimeMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "pghistory.middleware.HistoryMiddleware",
    # After messages, so that the way to enrolment can say why.
    "portal.second_factor.SecondFactorMiddleware",
    # Last, so that a locked-out log-in never reaches the view.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
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
                "portal.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL"),
        conn_max_age=0,
        conn_health_checks=True,
    )
}
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 8)
if env_bool("DATABASE_POOL", False):
    # Each web and worker process keeps a small pool: the embedded PostgreSQL allows 100
    # connections in all, and ASGI requests must not open one each.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL_SIZE,
    }
# How many requests a web process makes at once (portal.handler); the others wait their turn on
# the event loop. Few: a process's requests share one interpreter, and a second thread only
# contends for it. 50 bookings at once on two cores, two processes (bench/booking_race.py, 7
# rounds each): 18.8 ms of CPU per answer with 4 at once, 16.4 with 1 (a request's waits on the
# database are nobody's time), 14.6 with 2.
WEB_REQUESTS_AT_ONCE = env_int("WEB_REQUESTS_AT_ONCE", 2)
# Tests get a database of their own beside the named one: two checkouts pointed at different
# databases of one server never share a test database.
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", f"test_{DATABASES['default']['NAME']}")}

REDIS_URL = env_str("REDIS_URL")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "portal.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "portal.roles.RolePermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Log-in throttling: after 5 failures for one e-mail address from one client, that pair is
# locked out for 15 minutes.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# A second factor (django-allauth's MFA), after the password of the portal's own log-in page
# (portal.views.LoginView hands the checked user to allauth's log-in stages). Vendor staff must
# have one, customers may, and an organisation may require it of its users (portal.second_factor).
ACCOUNT_ADAPTER = "portal.second_factor.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"  # staff register people; their address is who they are
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
MFA_ADAPTER = "portal.second_factor.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = False  # a passkey is a second factor after the password, not instead
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "Upgrade portal")
# A code of the period just before or after is taken too (RFC 6238: a phone's clock drifts, and a
# code typed as its 30 seconds end arrives in the next).
MFA_TOTP_TOLERANCE = 1
MFA_ALLOW_UNVERIFIED_EMAIL = True  # no address is "verified" here: accounts are made by staff
# WebAuthn needs HTTPS except on localhost; DEBUG (make run on 127.0.0.1) may use plain HTTP.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
# Wrong codes: 5 per account in 5 minutes (allauth's "login_failed" limit), then refused for a while.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/300s/key"}

# Single sign-on per organisation through its identity provider (OpenID Connect or SAML 2.0),
# configured in the admin (Single sign-on). A person is matched to their contact by e-mail address;
# roles are granted in the portal, never by the provider (portal.sign_on).
SOCIALACCOUNT_ADAPTER = "portal.sign_on.SignOnAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # matched by portal.sign_on, within the organisation
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10
# `make run`'s demo identity providers (manage.py identitylab), on loopback.
IDENTITY_LAB_PORT = env_int("IDENTITY_LAB_PORT", 8035)
# The lab fleet (upgrades/lab/) listens on loopback; where it runs on a host of its own (the
# several-host test, tests/deploy/), its servers are registered at this address instead.
LAB_ADDRESS = env_str("LAB_ADDRESS", "127.0.0.1")

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `collectstatic` gathers the files for production (the Docker image); unset, the files
# are served from their folders (WHITENOISE_USE_FINDERS).
STATIC_ROOT = env_str("STATIC_ROOT", "") or None
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            # Hashed names need `collectstatic` (the Docker image runs it); DEBUG, tests and
            # `make run` serve the files from their folders instead.
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Tests and `make run` serve the files straight from their folders, without collectstatic.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)
WHITENOISE_AUTOREFRESH = DEBUG

# E-mail leaves over SMTP; `make run` points these at its loopback sink when none are set.
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Upgrade portal <upgrades@vendor.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Replies to the mails about an upgrade's conversation go to reply+<signed upgrade>@this domain;
# whatever receives that domain's mail posts each message whole to /mail/inbound/ with this
# secret as its bearer token (docs/architecture.md, "The conversation on an upgrade").
REPLY_MAIL_DOMAIN = env_str("REPLY_MAIL_DOMAIN", "replies.vendor.example")
INBOUND_MAIL_SECRET = env_str("INBOUND_MAIL_SECRET", "")

# Outgoing webhooks (portal/webhooks.py): a receiver is an https address that resolves to public
# addresses only. Loopback, over plain http too, is for DEBUG and for the tests' own receivers.
WEBHOOKS_ALLOW_LOOPBACK = env_bool("WEBHOOKS_ALLOW_LOOPBACK", DEBUG)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)

# Security headers. Cookies are Secure and HSTS is on whenever DEBUG is off; a deployment
# behind a TLS-terminating proxy sets SECURE_PROXY_SSL_HEADER through the environment.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^healthz/web$"]
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_ENGINE = "portal.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# A session ends SESSION_MAX_HOURS after the log-in whatever its use, and after
# SESSION_IDLE_MINUTES without a request (portal.middleware.SessionLifetimeMiddleware).
SESSION_MAX_HOURS = env_int("SESSION_MAX_HOURS", 12)
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 60)
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
# Personal API tokens (portal.tokens): made for API_TOKEN_DAYS unless asked otherwise, never
# for longer than API_TOKEN_MAX_DAYS.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 90)
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365)
SECURE_HSTS_SECONDS = 0 if DEBUG else env_int("SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = [
    # HSTS preload is a decision for the operator's domain, not the application's.
    "security.W021",
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # A token first: its answer to a missing or bad token is 401 with WWW-Authenticate
        # (DRF answers with the first class's header; the session's has none, hence 403).
        "portal.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The API answers JSON; people read and try it in its Swagger UI (/api/docs/), which passes
    # WCAG 2.1 AA: DRF's browsable pages do not (no page language, unnamed buttons, contrast).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Upgrade portal API",
    "DESCRIPTION": (
        "Organisations, contacts, deployments and servers; releases; upgrade requests, their prerequisite "
        "checklists and the support desk's workflow; free slots, bookings and maintenance windows."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    # No links inside the operations' buttons (WCAG: interactive controls are not nested).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `state`, each with its own choices: each enum is named once.
    "ENUM_NAME_OVERRIDES": {
        "KindEnum": "upgrades.choices.UpgradeKind",
        "WindowStateEnum": "scheduling.choices.WindowState",
        "CoverEnum": "scheduling.choices.Cover",
        "PurposeEnum": "scheduling.choices.Purpose",
        "RequestStateEnum": "upgrades.choices.RequestState",
        "RunStateEnum": "upgrades.choices.RunState",
        "StepStateEnum": "upgrades.choices.StepState",
        "ReadinessKindEnum": "upgrades.choices.ReadinessKind",
        "RollbackStateEnum": "upgrades.choices.RollbackState",
        "TokenScopeEnum": "portal.choices.TokenScope",
        "TokenStateEnum": "portal.choices.TokenState",
    },
}

# "default" is each process's own (rendered fragments); "shared" is Redis, for what every web
# process must count together (rate limits).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
               "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "portal")},
}
# The largest request body taken (portal.bodylimit): ten attachments of 5 MB at most at once is
# the largest a person sends, but together up to 20 MB; larger is refused before it is read.
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_MB", 21) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # Django's default: the form fields besides the files

# What one person may ask for in a time, as (times, seconds): printing a report's PDF runs Chromium.
REPORT_PDF_RATE = (env_int("REPORT_PDF_PER_HOUR", 12), 3600)
# Fetches of one person's calendar feed: calendar apps ask every hour or so.
CALENDAR_FEED_RATE = (env_int("CALENDAR_FEED_PER_HOUR", 60), 3600)
# How long an invitation's link lets its person choose a password.
INVITATION_DAYS = env_int("INVITATION_DAYS", 7)
# A password-reset mail per address at most once in 15 minutes; a client may ask for 10 an hour.
PASSWORD_RESET_ADDRESS_RATE = (1, 900)
PASSWORD_RESET_CLIENT_RATE = (env_int("PASSWORD_RESETS_PER_HOUR", 10), 3600)
# Subscriptions to status pages one client address may ask for in an hour (each mails a confirmation).
STATUS_SUBSCRIBE_CLIENT_RATE = (env_int("STATUS_SUBSCRIPTIONS_PER_HOUR", 10), 3600)

# Celery: Redis carries messages only; PostgreSQL holds every state a user sees.
CELERY_BROKER_URL = REDIS_URL.replace("unix://", "redis+socket://", 1)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Celery's Django fixup closes every connection (and, under prefork, the pool) around each task
# unless told to reuse them; portal.celery closes them as Django does around a request instead.
CELERY_DB_REUSE_MAX = 1000
# The availability probes have a worker of their own: a step's worker that dies does not stop
# the measuring (`make run` and docker-compose start one on this queue).
PROBE_QUEUE = env_str("PROBE_QUEUE", "probes")
CELERY_TASK_ROUTES = {"upgrades.probe": {"queue": PROBE_QUEUE}}

# The run engine: a step's worker renews its claim every RUN_HEARTBEAT_SECONDS. The dispatcher
# sweeps every RUN_SWEEP_SECONDS, so that a step whose worker died is interrupted at most
# RUN_STALE_AFTER_SECONDS after its last heartbeat (hence after the death). A run whose next step
# nobody has begun for RUN_STILL_AFTER_SECONDS is shown as still, with "continue" for the engineer.
# One driver operation's limit.
RUN_HEARTBEAT_SECONDS = env_int("RUN_HEARTBEAT_SECONDS", 5)
RUN_STALE_AFTER_SECONDS = env_int("RUN_STALE_AFTER_SECONDS", 30)
RUN_SWEEP_SECONDS = env_int("RUN_SWEEP_SECONDS", 5)
if RUN_STALE_AFTER_SECONDS - RUN_SWEEP_SECONDS < 2 * RUN_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "RUN_STALE_AFTER_SECONDS must leave room for two heartbeats after a sweep: at least "
        f"{RUN_SWEEP_SECONDS + 2 * RUN_HEARTBEAT_SECONDS} with these settings."
    )
RUN_STILL_AFTER_SECONDS = env_int("RUN_STILL_AFTER_SECONDS", 30)
# The dispatcher (`manage.py dispatcher`) relays the task outbox every second and runs these
# sweeps, every so many seconds, in a process that needs neither Redis nor a worker.
DISPATCHER_SWEEPS = {
    "upgrades.services.engine.steps_sweep": RUN_SWEEP_SECONDS,
    "upgrades.services.engine.runs_resend": RUN_SWEEP_SECONDS,
    "upgrades.services.availability.probes_sweep": RUN_SWEEP_SECONDS,
    "portal.dispatch.prune": 3600,
}
# The file the dispatcher touches every round; `manage.py dispatcher --check` and /healthz's
# "dispatcher" part read its age.
DISPATCHER_ALIVE_FILE = Path(env_str("DISPATCHER_ALIVE_FILE", str(Path(tempfile.gettempdir()) / "portal-dispatcher.alive")))
# What /healthz waits for besides the database and Redis (portal/health.py's PARTS): `make run`
# names every part it starts, so that ready means all of them are; the Celery workers that must
# answer a ping for the "workers" part are HEALTH_WORKERS.
HEALTH_PARTS = env_list("HEALTH_PARTS")
HEALTH_KNOWN_PARTS = {"mail", "identity", "lab", "workers", "dispatcher", "beat"}
if set(HEALTH_PARTS) - HEALTH_KNOWN_PARTS:
    raise ImproperlyConfigured(f"HEALTH_PARTS names parts /healthz does not know: "
                               f"{', '.join(sorted(set(HEALTH_PARTS) - HEALTH_KNOWN_PARTS))}")
HEALTH_WORKERS = env_list("HEALTH_WORKERS")
RUN_OPERATION_TIMEOUT_SECONDS = env_int("RUN_OPERATION_TIMEOUT_SECONDS", 1800)
# The functionality tests give the load balancer this long to take in servers just started or
# stopped (its health checks' interval times their rise or fall), trying again each second while
# they fail. A real failure is reported this much later.
RUN_CHECKS_SETTLE_SECONDS = env_int("RUN_CHECKS_SETTLE_SECONDS", 30)
# Before a group leaves service, the engine waits at most this long for the load balancer to have
# the groups that keep serving in its pool; past it the step fails rather than leave nobody serving.
RUN_POOL_WAIT_SECONDS = env_int("RUN_POOL_WAIT_SECONDS", 60)
# A balancer the drivers cannot ask (SSH) takes a server in once its health check has passed this
# long (its interval times its rise): the engine counts the passes the same way.
RUN_POOL_RISE_SECONDS = env_int("RUN_POOL_RISE_SECONDS", 10)
if RUN_POOL_WAIT_SECONDS <= RUN_POOL_RISE_SECONDS:
    raise ImproperlyConfigured("RUN_POOL_WAIT_SECONDS must be longer than RUN_POOL_RISE_SECONDS: "
                               f"more than {RUN_POOL_RISE_SECONDS} with these settings.")
# S11 "immediately before": a preflight older than this no longer lets a run start.
RUN_PREFLIGHT_FRESH_MINUTES = env_int("RUN_PREFLIGHT_FRESH_MINUTES", 60)
# After a run ends the prober samples on until the service answers again, at most this long.
RUN_PROBE_AFTER_END_MINUTES = env_int("RUN_PROBE_AFTER_END_MINUTES", 30)

# Scheduling (S6, S7): time before the service is at risk, and free time between two windows of
# one engineer.
SCHEDULING_PREPARATION_MINUTES = env_int("SCHEDULING_PREPARATION_MINUTES", 15)
SCHEDULING_BUFFER_MINUTES = env_int("SCHEDULING_BUFFER_MINUTES", 30)
# How long a scheduling link stays valid once issued.
SCHEDULING_LINK_DAYS = env_int("SCHEDULING_LINK_DAYS", 30)
# Slots: starts on a grid of minutes by the customer's clock, over the coming days.
SCHEDULING_GRID_MINUTES = env_int("SCHEDULING_GRID_MINUTES", 15)
SCHEDULING_HORIZON_DAYS = env_int("SCHEDULING_HORIZON_DAYS", 42)
# A customer may reschedule or cancel up to this many hours before the start; support at any time.
SCHEDULING_CUSTOMER_CUTOFF_HOURS = env_int("SCHEDULING_CUSTOMER_CUTOFF_HOURS", 48)
# Reminders before a window, in days (beat sends them).
SCHEDULING_REMINDER_DAYS = [int(days) for days in env_list("SCHEDULING_REMINDER_DAYS", "7,1")]
# A run paused on a failure nobody has taken for this long is escalated to support (beat).
RUN_FAILURE_ESCALATE_MINUTES = env_int("RUN_FAILURE_ESCALATE_MINUTES", 10)
# A status page's subscribers are told this long before the service is at risk (beat).
STATUS_STARTING_SOON_MINUTES = env_int("STATUS_STARTING_SOON_MINUTES", 60)
# Length of the prerequisite check appointment (S2).
SCHEDULING_CHECK_MINUTES = env_int("SCHEDULING_CHECK_MINUTES", 60)
# Who books an upgrade request's check and issues its link (upgrades.booking): scheduling.
UPGRADE_BOOKING = "scheduling.services.request_booking"
# What waits for a person, counted beside their entry of the menu (portal.context_processors).
NAVIGATION_COUNTS = "upgrades.selectors_homes.navigation_counts"
# S3: cloud customers are upgraded within this many months of a release, with this much notice.
CLOUD_PLAN_MONTHS = env_int("CLOUD_PLAN_MONTHS", 6)
CLOUD_NOTICE_DAYS = env_int("CLOUD_NOTICE_DAYS", 14)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"refusals_without_traceback": {"()": "portal.logs.RefusalsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # asyncssh and httpx log every connection and request at INFO: the drivers, the checks
        # and the prober report what matters themselves.
        **{name: {"level": "WARNING"} for name in ("axes", "asyncssh", "httpx")},
        "django.request": {"filters": ["refusals_without_traceback"]},
    },
}
