"""Settings for confserver, read from the environment (see .env.example).

With nothing set, the embedded default runs: SQLite in var/, the in-memory
channel layer and the media relay inside the server process.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from confserver import secretkey
from confserver.runtime import DEFAULT_GC_FULL_EVERY_S, DEFAULT_GC_THRESHOLDS

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env("CONFSERVER_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# No public fallback (issue 9): the embedded default (SQLite) makes its own key once into var/secret_key;
# every other deployment sets SECRET_KEY, the same on all its workers. confserver/checks.py flags weak keys.
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY and (env("DATABASE_URL", default="") or "sqlite:").startswith("sqlite:"):
    SECRET_KEY = secretkey.embedded_key(VAR_DIR)
elif not SECRET_KEY:
    raise ImproperlyConfigured(
        "Chưa đặt SECRET_KEY: ngoài cấu hình nhúng (SQLite), mọi máy chủ phải dùng chung một khóa bí mật, ví dụ "
        "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )
elif SECRET_KEY in secretkey.KNOWN_PUBLIC or (secretkey.problem(SECRET_KEY) and not env.bool("DEBUG", default=False)):
    # daphne runs no system checks: a weak key must stop the start itself (DEBUG: the check's warning only).
    raise ImproperlyConfigured(secretkey.problem(SECRET_KEY))
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
# Origins allowed to open the meeting WebSocket (scheme://host[:port]).
WS_ALLOWED_ORIGINS = env.list(
    "WS_ALLOWED_ORIGINS",
    default=["http://127.0.0.1:8000", "http://localhost:8000"],
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=WS_ALLOWED_ORIGINS)

# Production over TLS (issue 13, item 2). PRODUCTION=1 declares a deployment behind an HTTPS proxy and turns the
# secure defaults on; the embedded default (and the test servers) keep plain http on localhost. Each one can be
# set on its own. SECURE_PROXY_SSL_HEADER names the header the proxy sets to "https" (it must overwrite it, never
# pass a client's on: nginx `proxy_set_header X-Forwarded-Proto $scheme;`); empty: none trusted.
PRODUCTION = env.bool("PRODUCTION", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = env.list("SECURE_REDIRECT_EXEMPT", default=[])
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
_proxy_ssl = env("SECURE_PROXY_SSL_HEADER", default="X-Forwarded-Proto" if PRODUCTION else "").strip()
SECURE_PROXY_SSL_HEADER = (
    (
        "HTTP_" + _proxy_ssl.split(":")[0].strip().upper().replace("-", "_"),
        (_proxy_ssl.split(":", 1)[1].strip() if ":" in _proxy_ssl else "https"),
    )
    if _proxy_ssl
    else None
)
# Content-Security-Policy and Permissions-Policy of every response (confserver/security/headers.py); extra
# sources for connect-src (e.g. a TURN REST endpoint on another host), space-separated.
CSP_EXTRA_CONNECT_SRC = env("CSP_EXTRA_CONNECT_SRC", default="")
# The audit log (confserver/audit/): events older than this many days are removed by `manage.py prune_audit`
# (daily, from cron or a systemd timer); 30 at least, the database's own floor.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
# Second factor (TOTP) after the password (confserver/twofactor/): for the roles listed (host, admin, reviewer);
# OTP_REQUIRED=1 means host and admin. Off by default (the embedded default and the demo sign in with a password).
OTP_REQUIRED_ROLES = env.list("OTP_REQUIRED_ROLES", default=[])
OTP_REQUIRED = env.bool("OTP_REQUIRED", default=False)
OTP_ISSUER = env("OTP_ISSUER", default="Hội nghị trực tuyến")  # the name the authenticator app shows
OTP_PENDING_S = env.int("OTP_PENDING_S", default=300)  # time between the password and its code

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",  # its own copy of the API docs' scripts, served from /static/ (no CDN)
    "confserver.accounts",
    "confserver.rooms",
    "confserver.signaling",
    "confserver.recording",
    "confserver.media",
    "confserver.agenda",
    "confserver.audit",
    "confserver.delegates",
    "confserver.votes",
    "confserver.twofactor",
    "confserver.backups",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "confserver.security.headers.SecurityHeaders",
    "confserver.audit.context.RequestContext",
    "confserver.guards.RequestGuards",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "confserver.twofactor.middleware.SecondFactorRequired",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "confserver.urls"
ASGI_APPLICATION = "confserver.asgi.application"
WSGI_APPLICATION = "confserver.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Before the apps' own: confserver/templates/admin/ overrides a Django admin template with English in it.
        "DIRS": [BASE_DIR / "confserver" / "templates"],
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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'confserver.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the ASGI server's threads read while one writes.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["timeout"] = 20
# Under daphne every HTTP request runs in a thread of its own, so a connection kept per thread
# (CONN_MAX_AGE > 0) outlives its request: one connection per request until PostgreSQL refuses
# more (issue 9, finding 1). Connections are closed after each request and each socket-layer
# call; on PostgreSQL "closed" hands it back to a pool, since opening one per call made a burst
# of joins queue for seconds. DB_POOL_MAX bounds one worker's connections (0: no pool).
DB_POOL_MIN = env.int("DB_POOL_MIN", default=2)
DB_POOL_MAX = env.int("DB_POOL_MAX", default=20)
DB_POOL_TIMEOUT_S = env.float("DB_POOL_TIMEOUT_S", default=10.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_POOL_MAX > 0:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(DB_POOL_MIN, DB_POOL_MAX),
        "max_size": DB_POOL_MAX,
        "timeout": DB_POOL_TIMEOUT_S,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    # The pub/sub layer publishes a group message once, whatever the group size.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env("CHANNEL_PREFIX", default="confserver")},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# The product's own sign-in page (confserver/accounts/signin.py); signing out lands on it again. After
# signing in, each role goes to its own page (accounts/landing.py), not to LOGIN_REDIRECT_URL.
LOGIN_URL = "/login/"
LOGOUT_REDIRECT_URL = "/login/"
# Sign-in throttling (confserver/accounts/throttle.py): failed passwords allowed per account and per
# client address within the window, then every attempt is refused with 429 until the window ends;
# and how many password hashes one process runs at once (others wait up to LOGIN_HASH_WAIT_S).
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=5)
LOGIN_FAILURES_PER_ACCOUNT_TOTAL = env.int("LOGIN_FAILURES_PER_ACCOUNT_TOTAL", default=50)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=20)
LOGIN_THROTTLE_WINDOW_S = env.int("LOGIN_THROTTLE_WINDOW_S", default=15 * 60)
LOGIN_HASH_CONCURRENCY = env.int("LOGIN_HASH_CONCURRENCY", default=2)
LOGIN_HASH_WAIT_S = env.float("LOGIN_HASH_WAIT_S", default=10.0)
# Shared by every worker through Redis when REDIS_URL is set (sign-in throttling counters).
if env("REDIS_URL", default=""):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env("REDIS_URL"),
            "KEY_PREFIX": env("CACHE_PREFIX", default=env("LIVE_PREFIX", default="confserver")),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LANGUAGE_CODE = "vi"
# Vietnamese for what Django ships untranslated (the admin's newer strings, form messages): issue 12, item 13.
LOCALE_PATHS = [BASE_DIR / "confserver" / "locale"]
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [("web", BASE_DIR / "web")]
SERVE_STATIC = env.bool("SERVE_STATIC", default=True)

MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
RECORDINGS_ROOT = Path(env("RECORDINGS_ROOT", default=str(VAR_DIR / "recordings")))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Largest meeting document (PDF) accepted; bigger uploads get 413 file_too_large.
AGENDA_MAX_UPLOAD_BYTES = env.int("AGENDA_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
# Publishing the agenda POSTs JSON here (an SMS/messenger gateway), signed with the secret when set
# (X-Confserver-Signature); failed calls are retried by `manage.py agenda_webhooks --loop`.
AGENDA_WEBHOOK_URL = env("AGENDA_WEBHOOK_URL", default="")
AGENDA_WEBHOOK_SECRET = env("AGENDA_WEBHOOK_SECRET", default="")
# CA certificates (PEM/DER paths) trusted for digital signatures on documents; empty: trust is "unknown".
AGENDA_TRUST_ROOTS = env.list("AGENDA_TRUST_ROOTS", default=[])

# Room terminals sign in with a link for one meeting (rooms/tokens.py). It lasts until ROOM_TOKEN_AFTER_END_S
# past the meeting's scheduled end, and never more than ROOM_TOKEN_MAX_AGE_S past the later of the scheduled
# start and the moment it is handed out; the chair can revoke it sooner.
ROOM_TOKEN_MAX_AGE_S = env.int("ROOM_TOKEN_MAX_AGE_S", default=24 * 3600)
ROOM_TOKEN_AFTER_END_S = env.int("ROOM_TOKEN_AFTER_END_S", default=4 * 3600)

# LOG_FORMAT: "text" (the embedded default) or "json" (the default with PRODUCTION=1): one JSON object a line with
# time, level, logger, message and the request's, meeting's and room's ids when known
# (confserver/observability/logs.py).
LOG_FORMAT = env("LOG_FORMAT", default="json" if PRODUCTION else "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'text' or 'json', not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "confserver.observability.logs.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", **({"formatter": "json"} if LOG_FORMAT == "json" else {})}
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}
# Prometheus metrics (confserver/observability/): each daphne worker answers GET /metrics to these client addresses or
# networks, or to a request with `Authorization: Bearer METRICS_TOKEN`; anyone else gets 403 metrics_forbidden.
METRICS_ALLOWED_ADDRESSES = env.list("METRICS_ALLOWED_ADDRESSES", default=["127.0.0.1", "::1"])
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# Live meeting state (signaling/live.py) keys start with this; the grace period
# during which a dropped connection may resume before its room counts as gone.
LIVE_PREFIX = env("LIVE_PREFIX", default="confserver")
SIGNALING_GRACE_S = env.float("SIGNALING_GRACE_S", default=20.0)
# Per-connection flood limit: a token bucket of this many messages per second and burst.
SIGNALING_RATE = env.float("SIGNALING_RATE", default=20.0)
SIGNALING_BURST = env.int("SIGNALING_BURST", default=40)
# Notifications kept per session for resume; and the most a slow client may have queued.
SIGNALING_OUTBOX = env.int("SIGNALING_OUTBOX", default=512)
SIGNALING_MAX_BACKLOG = env.int("SIGNALING_MAX_BACKLOG", default=1000)
# A meeting's hub writes a notification to the socket itself when that connection has nothing queued (under
# daphne: edge/sender.py); off: every one goes through the connection's queue and writer task.
SIGNALING_SEND_DIRECT = env.bool("SIGNALING_SEND_DIRECT", default=True)
# Joins' attendance and timeline rows are written in batches this often (0: with each join).
SIGNALING_JOIN_BATCH_S = env.float("SIGNALING_JOIN_BATCH_S", default=0.05)
# Cyclic GC thresholds of the server processes, e.g. "50000,20,100" (empty: Python's defaults,
# nothing frozen), and how often a full collection runs (0: never). See confserver/runtime.py.
GC_THRESHOLDS = tuple(env.list("GC_THRESHOLDS", cast=int, default=list(DEFAULT_GC_THRESHOLDS)))
GC_FULL_EVERY_S = env.float("GC_FULL_EVERY_S", default=DEFAULT_GC_FULL_EVERY_S)

# Media relay ICE: addresses to offer (empty = every non-loopback interface; tests use 127.0.0.1),
# a UDP port range "first-last", the public address of a 1:1 NAT, and TURN for browsers
# (time-limited credentials from a shared secret, as coturn's use-auth-secret expects).
MEDIA_ICE_HOSTS = env.list("MEDIA_ICE_HOSTS", default=[])
_ports = env("MEDIA_PORT_RANGE", default="")
MEDIA_PORT_RANGE = tuple(int(p) for p in _ports.split("-")) if _ports else None
MEDIA_PUBLIC_ADDRESS = env("MEDIA_PUBLIC_ADDRESS", default="")
MEDIA_TURN_URLS = env.list("MEDIA_TURN_URLS", default=[])
MEDIA_TURN_SECRET = env("MEDIA_TURN_SECRET", default="")
MEDIA_TURN_TTL_S = env.int("MEDIA_TURN_TTL_S", default=6 * 3600)
# The Opus average bitrate the relay asks publishers for (its answer's maxaveragebitrate, with FEC and DTX on).
MEDIA_OPUS_MAXAVGBITRATE = env.int("MEDIA_OPUS_MAXAVGBITRATE", default=32000)
# The shared low layer (issue 15, media/lowlayer.py): the chair's console and the room with the floor also send a
# ~320x180 15 fps 150 kbps copy of their camera, which the relay gives the rooms whose link carries no more.
MEDIA_LOW_LAYER = env.bool("MEDIA_LOW_LAYER", default=True)
# Relay processes (`manage.py run_relay --channel NAME`, one per core) reached over the channel layer;
# empty = the relay runs inside each server process (embedded default, one-process deployments).
MEDIA_RELAY_CHANNELS = env.list("MEDIA_RELAY_CHANNELS", default=[])
# How often the chair's console gets the rooms' media quality.
MEDIA_QUALITY_PERIOD_S = env.float("MEDIA_QUALITY_PERIOD_S", default=2.0)

# Presence and recovery (signaling/heartbeat.py): each worker beats this often; a worker silent for
# SIGNALING_WORKER_TTL_S (0: three beats) counts as dead and its rooms drop. A publish that cannot
# reach Redis is retried this long.
SIGNALING_HEARTBEAT_S = env.float("SIGNALING_HEARTBEAT_S", default=2.0)
SIGNALING_WORKER_TTL_S = env.float("SIGNALING_WORKER_TTL_S", default=0.0)
SIGNALING_PUBLISH_RETRY_S = env.float("SIGNALING_PUBLISH_RETRY_S", default=10.0)
if REDIS_URL:
    CHANNEL_LAYERS["default"]["BACKEND"] = "confserver.signaling.layer.RetryingPubSubLayer"

# The edge (confserver/edge/): guards in daphne itself, before application code runs. A request body
# may be at most HTTP_MAX_BODY_BYTES (document uploads from a signed-in client: AGENDA_MAX_UPLOAD_BYTES
# and a margin); bigger is answered 413 body_too_large unread. A request's headers must arrive within
# HTTP_REQUEST_TIMEOUT_S, its body at HTTP_MIN_BODY_RATE bytes/s or more over each such window.
HTTP_MAX_BODY_BYTES = env.int("HTTP_MAX_BODY_BYTES", default=1024 * 1024)
HTTP_REQUEST_TIMEOUT_S = env.float("HTTP_REQUEST_TIMEOUT_S", default=15.0)
HTTP_MIN_BODY_RATE = env.int("HTTP_MIN_BODY_RATE", default=4096)
# A streamed response whose client takes nothing for HTTP_RESPONSE_STALL_S is cut (it holds a file and a task).
HTTP_RESPONSE_STALL_S = env.float("HTTP_RESPONSE_STALL_S", default=60.0)
# WebSocket ceilings per connection, above the application's SIGNALING_RATE/BURST and 64 KB messages:
# past WS_MAX_FRAMES_PER_S or WS_MAX_BYTES_PER_S (after a burst of WS_BURST_S seconds' worth) it is
# closed with 4029; bigger messages close it with 1009; with more than WS_MAX_QUEUED frames (keep it above
# the burst) or WS_MAX_QUEUED_BYTES waiting for the application it is not read until they drain. At most
# WS_MAX_PER_ADDRESS sockets per client address and worker (0: no cap; behind a proxy run daphne with
# --proxy-headers), loopback exempt if WS_EXEMPT_LOOPBACK.
WS_MAX_FRAMES_PER_S = env.float("WS_MAX_FRAMES_PER_S", default=50.0)
WS_MAX_BYTES_PER_S = env.int("WS_MAX_BYTES_PER_S", default=256 * 1024)
WS_BURST_S = env.float("WS_BURST_S", default=2.0)
WS_MAX_MESSAGE_BYTES = env.int("WS_MAX_MESSAGE_BYTES", default=128 * 1024)
WS_MAX_QUEUED = env.int("WS_MAX_QUEUED", default=128)
WS_MAX_QUEUED_BYTES = env.int("WS_MAX_QUEUED_BYTES", default=1024 * 1024)
WS_MAX_PER_ADDRESS = env.int("WS_MAX_PER_ADDRESS", default=300)
WS_EXEMPT_LOOPBACK = env.bool("WS_EXEMPT_LOOPBACK", default=False)
# A frame goes to the socket in the call when nothing is buffered before it (edge/fastwrite.py); off: Twisted's
# own buffered write (one loop round per socket per event).
WS_SEND_NOW = env.bool("WS_SEND_NOW", default=True)

# Signaling connections (consumers.py): one that has not joined within SIGNALING_JOIN_TIMEOUT_S is closed
# with 4408; a room (or the chair) of a meeting holds at most SIGNALING_MAX_SOCKETS_PER_ROOM open connections
# per server process (more are refused, 4429); more than SIGNALING_FLOOD_FPS frames within one second (never
# below SIGNALING_BURST + SIGNALING_RATE) close the connection at once with 4029 and the room leaves.
SIGNALING_JOIN_TIMEOUT_S = env.float("SIGNALING_JOIN_TIMEOUT_S", default=10.0)
SIGNALING_MAX_SOCKETS_PER_ROOM = env.int("SIGNALING_MAX_SOCKETS_PER_ROOM", default=3)
SIGNALING_FLOOD_FPS = env.int("SIGNALING_FLOOD_FPS", default=100)

# Documents' PDFs are opened by PDFium only in sandboxed processes (confserver/agenda/sandbox.py), each
# limited to AGENDA_PDF_MEMORY_MB of address space: an upload is checked in a fresh one (at most
# AGENDA_PDF_CHECKS at once per server process, AGENDA_PDF_CHECK_TIMEOUT_S of CPU), pages are rendered by
# AGENDA_RENDER_WORKERS reused ones (AGENDA_RENDER_TIMEOUT_S a page); a request waits at most
# AGENDA_PDF_WAIT_S for a free one, then gets 503. A document has at most AGENDA_MAX_PAGES pages, a page
# image at most AGENDA_RENDER_MAX_PIXELS pixels (a larger page is scaled down).
AGENDA_PDF_MEMORY_MB = env.int("AGENDA_PDF_MEMORY_MB", default=256)
AGENDA_PDF_CHECKS = env.int("AGENDA_PDF_CHECKS", default=2)
AGENDA_PDF_CHECK_TIMEOUT_S = env.float("AGENDA_PDF_CHECK_TIMEOUT_S", default=60.0)
AGENDA_RENDER_WORKERS = env.int("AGENDA_RENDER_WORKERS", default=2)
AGENDA_RENDER_TIMEOUT_S = env.float("AGENDA_RENDER_TIMEOUT_S", default=10.0)
AGENDA_PDF_WAIT_S = env.float("AGENDA_PDF_WAIT_S", default=30.0)
AGENDA_MAX_PAGES = env.int("AGENDA_MAX_PAGES", default=2000)
AGENDA_RENDER_MAX_PIXELS = env.int("AGENDA_RENDER_MAX_PIXELS", default=4_000_000)
# The upload endpoints refuse an anonymous request or a declared body over the limit before parsing it,
# and write the file part straight to the agenda's spool (confserver/agenda/uploads.py).
MIDDLEWARE = [*MIDDLEWARE, "confserver.agenda.uploads.UploadGuard"]

# Recording (confserver/recording/segments.py): encoded packets are copied into WebM segments of
# RECORDING_SEGMENT_S seconds each (a new one at the next keyframe) under RECORDINGS_ROOT, by a writer
# thread fed through a queue of at most RECORDING_QUEUE_PACKETS packets; when it overflows, recording stops.
RECORDING_SEGMENT_S = env.float("RECORDING_SEGMENT_S", default=300.0)
RECORDING_QUEUE_PACKETS = env.int("RECORDING_QUEUE_PACKETS", default=3000)
# Which code writes the live segments: "webm" (confserver/recording/webm.py, our own Matroska writer: one write per
# cluster of <= 1 s, no PyAV object per packet) or "pyav" (segments.SegmentFile, FFmpeg's muxer).
RECORDING_WRITER = env.str("RECORDING_WRITER", default="webm")
if RECORDING_WRITER not in ("webm", "pyav"):
    raise ImproperlyConfigured(f"RECORDING_WRITER must be 'webm' or 'pyav', not {RECORDING_WRITER!r}")
# The relay feeds the recorder (confserver/media/recorder.py) and, while recording, asks the program's video source
# for a keyframe whenever the file has had none for RECORDING_KEYFRAME_S seconds (browsers send one only when asked;
# seeking needs them: issue 10 asks for one every 10 s at most). 2 s: a seek decodes from the keyframe before it,
# 15 frames on average at 15 fps instead of 37 (bench/_recording_seek.py: median 157 ms instead of 268 at load 11-14).
RECORDING_KEYFRAME_S = env.float("RECORDING_KEYFRAME_S", default=2.0)
if not 1.0 <= RECORDING_KEYFRAME_S <= 10.0:
    raise ImproperlyConfigured(f"RECORDING_KEYFRAME_S must be between 1 and 10 seconds, not {RECORDING_KEYFRAME_S}")

# Serving recordings (confserver/recording/api.py): when set (e.g. "/_recordings"), a segment request that passed
# the permission check is answered with `X-Accel-Redirect: <prefix>/<path under RECORDINGS_ROOT>` and no body, for
# an nginx `internal` location aliased to RECORDINGS_ROOT; empty: the view serves the bytes and ranges itself.
RECORDINGS_ACCEL_PREFIX = env("RECORDINGS_ACCEL_PREFIX", default="")

# Whether a meeting is recorded is the chair's decision (Decision 45/2018/QĐ-TTg; confserver/recording/live.py):
# with RECORDING_DEFAULT_ON a meeting starts recording by itself when it goes live; the console stops and
# restarts it (in the test run too, if the chair chooses). Off: recording starts only when the chair starts it.
RECORDING_DEFAULT_ON = env.bool("RECORDING_DEFAULT_ON", default=True)

# After a meeting (confserver/recording/finalize.py, export.py): its segments are mixed to one audio track and joined
# into one WebM by `manage.py finalize_recording`, run under `nice -n RECORDING_FINALIZE_NICE` (0: not niced). A
# builder silent for RECORDING_EXPORT_STALE_S is taken over; a failed build is retried by a download request
# after RECORDING_EXPORT_RETRY_S (at once when the segments changed).
RECORDING_FINALIZE_NICE = env.int("RECORDING_FINALIZE_NICE", default=10)
RECORDING_EXPORT_STALE_S = env.float("RECORDING_EXPORT_STALE_S", default=60.0)
RECORDING_EXPORT_RETRY_S = env.float("RECORDING_EXPORT_RETRY_S", default=300.0)
# The builder's wall-clock bound (0: none): a 12-hour meeting where two speak at once all along needs ~10 min of
# a core (bench/_recording_remux.py: mixing 1.1 % of a core, joining ~3.5 s per hour); stopped past it.
RECORDING_FINALIZE_TIMEOUT_S = env.float("RECORDING_FINALIZE_TIMEOUT_S", default=3600.0)
# Retention (confserver/recording/retention.py, `manage.py prune_recordings`): the files of meetings ended more
# than RECORDING_RETENTION_DAYS days ago are removed, never those of a meeting under a legal hold (set in the
# admin). 0, the default, keeps recordings forever: deleting part of the record is the agency's decision, taken
# from its own retention schedule for meeting records, not the software's.
RECORDING_RETENTION_DAYS = env.int("RECORDING_RETENTION_DAYS", default=0)

# The minutes (biên bản, confserver/recording/minutes_sign.py): when MINUTES_SIGNING_P12 names a PKCS#12 file
# (.p12/.pfx with the agency's signing key and certificate chain), finalised minutes are issued as a PDF signed
# with it (pyHanko); MINUTES_SIGNING_PASSWORD is its password. Empty: finalised minutes are issued unsigned.
# A missing file, a wrong password or an expired certificate refuses finalising with a coded error.
MINUTES_SIGNING_P12 = env("MINUTES_SIGNING_P12", default="")
MINUTES_SIGNING_PASSWORD = env("MINUTES_SIGNING_PASSWORD", default="")

# Relay cascade, control plane (issue 11; docs/cascade.md, confserver/media/registry.py, placement.py, plans.py,
# monitor.py). Each `manage.py run_relay` registers in Redis with the address other hosts reach it at
# (RELAY_ADVERTISE or --advertise; default: MEDIA_PUBLIC_ADDRESS, else the first MEDIA_ICE_HOSTS, else the host
# name) and RELAY_CAPACITY rooms (or --capacity): 600, below the real limit bench/relay.py finds on one core of the
# reference machine (it climbs by 50 rooms until the relay fails a step: capacity_rooms 650 twice, the relay then at
# 87-93 % of a core; one run failed 650 on latency). Measure each relay machine and set it from its capacity_rooms.
# Placement fills a relay to RELAY_FILL of it. A relay beats every RELAY_HEARTBEAT_S; one whose last beat is older
# than RELAY_DEAD_AFTER_S is dead: the monitor, polling every RELAY_MONITOR_POLL_S, sees it within
# RELAY_DEAD_AFTER_S + RELAY_MONITOR_POLL_S of the kill (1.3 s; the issue's bound is 1.5 s). One monitor acts at a
# time, holding a lease of RELAY_MONITOR_LEASE_MS. Joins sent to one relay are capped at RELAY_JOIN_RATE per
# second after a burst of RELAY_JOIN_BURST (300 aiortc peers connected at once in 1.9 s here).
RELAY_ADVERTISE = env("RELAY_ADVERTISE", default="")
RELAY_CAPACITY = env.int("RELAY_CAPACITY", default=600)
RELAY_FILL = env.float("RELAY_FILL", default=0.8)
RELAY_HEARTBEAT_S = env.float("RELAY_HEARTBEAT_S", default=0.25)
RELAY_DEAD_AFTER_S = env.float("RELAY_DEAD_AFTER_S", default=1.2)
RELAY_MONITOR_POLL_S = env.float("RELAY_MONITOR_POLL_S", default=0.1)
RELAY_MONITOR_LEASE_MS = env.int("RELAY_MONITOR_LEASE_MS", default=2000)
RELAY_JOIN_RATE = env.float("RELAY_JOIN_RATE", default=150.0)
RELAY_JOIN_BURST = env.int("RELAY_JOIN_BURST", default=150)
# A drain (run_relay_monitor --drain) tells a relay's rooms to move RELAY_DRAIN_BATCH at a time per worker,
# make-before-break: the next batch once these are connected on their new relay (relaymoves.py, media/handoff.py).
RELAY_DRAIN_BATCH = env.int("RELAY_DRAIN_BATCH", default=25)
# MEDIA_CASCADE (off by default): with it on and REDIS_URL set, a meeting's calls go to the relays its plan names
# (plans.py; made when its first room opens its media) instead of the CRC choice over MEDIA_RELAY_CHANNELS, and
# the daphne workers tell the rooms a dead or draining relay carried to reconnect their media elsewhere
# (signaling/relaymoves.py). Needs run_relay processes beating (registry) and a run_relay_monitor.
MEDIA_CASCADE = env.bool("MEDIA_CASCADE", default=False)
if RELAY_HEARTBEAT_S > 0.5 or RELAY_DEAD_AFTER_S < 2 * RELAY_HEARTBEAT_S:
    raise ImproperlyConfigured("RELAY_HEARTBEAT_S must be at most 0.5 s and RELAY_DEAD_AFTER_S at least two beats")
