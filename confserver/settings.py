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
        "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(64))').")
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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "confserver.guards.RequestGuards",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
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
        "min_size": min(DB_POOL_MIN, DB_POOL_MAX), "max_size": DB_POOL_MAX, "timeout": DB_POOL_TIMEOUT_S,
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
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_URL"),
                          "KEY_PREFIX": env("CACHE_PREFIX", default=env("LIVE_PREFIX", default="confserver"))}}
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}

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
# The relay feeds the recorder (confserver/media/recorder.py) and, while recording, asks the program's video source
# for a keyframe whenever the file has had none for RECORDING_KEYFRAME_S seconds (browsers send one only when asked;
# seeking needs them: issue 10 asks for one every 10 s at most).
RECORDING_KEYFRAME_S = env.float("RECORDING_KEYFRAME_S", default=5.0)
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
