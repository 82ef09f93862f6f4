"""Settings for Interviewer.

One file, every value read from the environment with a default that works on a
laptop: SQLite, the in-memory channel layer, the local-memory cache, the
django-q2 ORM broker and the local engines. See README.md for the full table.
"""

import ipaddress
import os
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent


def envget(name, default=""):
    """Read NAME, or the contents of the file named by NAME_FILE (for secrets)."""
    path = os.environ.get(name + "_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def envbool(name, default):
    value = envget(name, default)
    if value not in ("true", "false"):
        raise ValueError(f"{name} must be 'true' or 'false', got {value!r}")
    return value == "true"


def envint(name, default):
    return int(envget(name, str(default)))


def envfloat(name, default):
    return float(envget(name, str(default)))


def trusted_proxies(value):
    """TRUSTED_PROXIES: "" (none), a count such as "2", or comma-separated
    addresses and networks; refused at start-up if it is anything else."""
    value = value.strip()
    if not value:
        return 0
    if value.isdigit():
        return int(value)
    networks = [n.strip() for n in value.split(",") if n.strip()]
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(f"TRUSTED_PROXIES must be a count or addresses/networks, got {network!r}") from None
    return networks


def database_from_url(url):
    """Turn postgres://user:pass@host:port/name?opt=v into a DATABASES entry."""
    parts = urlparse(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("DATABASE_URL must start with postgres:// or postgresql://")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    db = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        # With DB_POOL, connections come from a pool (psycopg_pool, Django's
        # "pool" option): Django "closes" a connection after every request and
        # every database_sync_to_async call, and the pool makes that a cheap
        # return instead of a new connection. CONN_MAX_AGE must stay 0.
        "CONN_MAX_AGE": 0,
        "OPTIONS": options,
    }
    # Off by default: django-q2 forks its workers, and forked processes must
    # not share a pool's sockets. Turn it on for web (daphne) processes only.
    if envbool("DB_POOL", "false"):
        options["pool"] = {
            "min_size": envint("DB_POOL_MIN_SIZE", 2),
            "max_size": envint("DB_POOL_MAX_SIZE", 20),
            "timeout": envint("DB_POOL_TIMEOUT", 10),
        }
    return db


SECRET_KEY = envget("SECRET_KEY", "dev-only-insecure-key-change-me")
# Off unless asked for: `make run` turns it on for development; a deploy that
# sets nothing gets production behaviour (and check interviewer.E002 refuses
# the development key).
DEBUG = envbool("DEBUG", "false")
ALLOWED_HOSTS = [h for h in envget("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in envget("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
SITE_NAME = envget("SITE_NAME", "Interviewer")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "django_q",
    "allauth",
    "allauth.account",
    "accounts",
    "interviews",
    "speech",
    "lib",
]

# Under ASGI, Django runs a MiddlewareMixin's hooks in a thread; lib.middleware's
# OnLoop subclasses run them on the event loop (same behaviour; a session or
# messages to save still go to a thread). Security, sessions, CSRF and
# X-Frame-Options keep Django's own paths, which `check --deploy` looks for by name. Static files never
# reach this chain: interviewer/asgi.py serves /static/ in front of Django.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "lib.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "lib.middleware.OnLoopCommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "lib.middleware.OnLoopAuthenticationMiddleware",
    "lib.middleware.OnLoopMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "interviewer.urls"
ASGI_APPLICATION = "interviewer.asgi.application"

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
                "interviewer.context.site",
            ],
        },
    },
]

DATABASE_URL = envget("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": envget("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # Web and worker processes write at once: wait for the lock rather
            # than fail, and take the write lock at BEGIN so a read-then-write
            # transaction never dead-ends with "database is locked".
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # Tests use a file too: an in-memory shared-cache database locks whole
            # tables and ignores the busy timeout, so concurrent tests would flake.
            "TEST": {"NAME": envget("SQLITE_TEST_PATH", str(Path(tempfile.gettempdir()) / f"interviewer-test-{os.getpid()}.sqlite3"))},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = envget("REDIS_URL")
REDIS_MAX_CONNECTIONS = envint("REDIS_MAX_CONNECTIONS", 1000)  # per pool, per process
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 times out socket reads after 5 s by default, which is
                # exactly channels-redis's blocking-pop timeout: allow longer.
                # redis-py 8 allows only 100 connections per pool by default and
                # fails beyond that; a busy web process needs more.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "max_connections": REDIS_MAX_CONNECTIONS}],
                "prefix": envget("CHANNELS_PREFIX", "interviewer"),
                # Messages waiting per channel before new ones are dropped; the
                # default (100) is too small for a busy web process.
                "capacity": envint("CHANNELS_CAPACITY", 1000),
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": envget("CACHE_PREFIX", "interviewer"),
            "OPTIONS": {"max_connections": REDIS_MAX_CONNECTIONS},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# allauth's rate limits count per client address as ours do (TRUSTED_PROXIES).
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"

# allauth: email + password, no usernames; the same answer whether or not an
# account exists (no enumeration). Sign-up can only answer the same if the
# address must be confirmed: a known address is sent a "you already have an
# account" email instead of a confirmation link, and the page is the same.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"
ACCOUNT_EMAIL_VERIFICATION = envget("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_PREVENT_ENUMERATION = True
# The confirmation link logs in the browser that signed up (only that one: it
# must carry the sign-up's session), so a new candidate goes straight on.
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    # Per client address: a burst, and an hour's worth (a class signing up
    # together behind one address still fits).
    "signup": "20/m/ip,60/h/ip",
    # Emails to one address (confirmation, "already registered"), however
    # many sign-ups or resends name it.
    "confirm_email": "1/3m/key,10/d/key",
    # Adding addresses sends them mail: per user.
    "manage_email": "10/m/user,30/h/user",
    "reset_password": "20/m/ip,5/m/key",
}
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"

EMAIL_BACKEND = envget("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = envget("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envget("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envget("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "false")
DEFAULT_FROM_EMAIL = envget("DEFAULT_FROM_EMAIL", "Interviewer <noreply@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = envget("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = envget("MEDIA_ROOT", str(BASE_DIR / "media"))
MEDIA_URL = "media/"

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("BEHIND_TLS_PROXY", "false") else None
# The reverse proxies in front of the web processes, as a count ("1": one
# nginx) or as networks ("10.0.0.0/8,127.0.0.1"). The client address (rate
# limits, allauth, /metrics) is the rightmost X-Forwarded-For hop that is not
# one of them; with none, X-Forwarded-For is ignored (lib/ratelimit.py).
TRUSTED_PROXIES = trusted_proxies(envget("TRUSTED_PROXIES", ""))
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "false")
# HSTS: off while developing; a year once DEBUG is off (browsers then refuse
# plain HTTP for the host, so turn it on only once HTTPS works).
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "true")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "false")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("SECURE_COOKIES", "false" if DEBUG else "true")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy is set by lib.middleware.SecurityHeadersMiddleware.

# Uploads: résumé files are read in memory up to this size, then refused.
RESUME_MAX_BYTES = envint("RESUME_MAX_BYTES", 5 * 1024 * 1024)
# A PDF or DOCX résumé is read in a child process with this much CPU time
# (and twice as long, plus 2 s, of wall-clock time); past it, a form error.
RESUME_PARSE_SECONDS = envint("RESUME_PARSE_SECONDS", 3)
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024

# The interviewer and coach. "local" is the built-in engine; anything else is
# a LangChain "provider:model" name, e.g. google_genai:gemini-2.5-flash.
INTERVIEW_LLM = envget("INTERVIEW_LLM", "local")
INTERVIEW_LLM_BASE_URL = envget("INTERVIEW_LLM_BASE_URL")  # a proxy, or a fake in tests
INTERVIEW_LLM_TIMEOUT = envfloat("INTERVIEW_LLM_TIMEOUT", 30)
INTERVIEW_LLM_RETRIES = envint("INTERVIEW_LLM_RETRIES", 3)
# Concurrent chat-model calls across every process and host (0: no cap), and
# how long a call waits for a free one before the turn offers Retry.
CAP_LLM = envint("CAP_LLM", 20)
LLM_CAP_WAIT_SECONDS = envfloat("LLM_CAP_WAIT_SECONDS", 5)
INTERVIEW_LLM_TEMPERATURE = envfloat("INTERVIEW_LLM_TEMPERATURE", 0.7)
# Threads for blocking work (database calls, SDK internals) per web process.
ASYNC_THREADS = envint("ASYNC_THREADS", 64)
# `manage.py runall` (and so `make run`) starts this many daphne processes on
# one socket: one per CPU core uses the machine. More than one needs Redis.
WEB_PROCESSES = envint("WEB_PROCESSES", 1)
# A turn being generated holds a lease; after this, another process may retry it.
INTERVIEW_TURN_LEASE_SECONDS = envint("INTERVIEW_TURN_LEASE_SECONDS", 30)
# Pause between streamed words of the local engine, so text appears as typed.
INTERVIEW_LOCAL_STREAM_DELAY = envfloat("INTERVIEW_LOCAL_STREAM_DELAY", 0.02)
# One interviewer turn, whatever the engine streams: text past this many
# characters is cut (and the model's stream closed), and at most this many of
# its sentences are spoken. A turn is asked to stay under 90 words.
INTERVIEW_TURN_MAX_CHARS = envint("INTERVIEW_TURN_MAX_CHARS", 2000)
INTERVIEW_TURN_MAX_SENTENCES = envint("INTERVIEW_TURN_MAX_SENTENCES", 12)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envget("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}

# Speech: one setting per job, local engines by default (no account needed).
SPEECH_LIVE_STT = envget("SPEECH_LIVE_STT", "local")  # local | deepgram
# When the live provider is full or failing: "local" falls back to the local
# engine, "none" tells the candidate to type.
SPEECH_LIVE_FALLBACK = envget("SPEECH_LIVE_FALLBACK", "local")
SPEECH_BATCH_STT = envget("SPEECH_BATCH_STT", "local")  # local | assemblyai
SPEECH_TTS = envget("SPEECH_TTS", "local")  # local | polly
DEEPGRAM_API_KEY = envget("DEEPGRAM_API_KEY")
DEEPGRAM_URL = envget("DEEPGRAM_URL")  # e.g. ws://127.0.0.1:PORT for a fake in tests
DEEPGRAM_MODEL = envget("DEEPGRAM_MODEL", "nova-3")
# Endpointing tuned for people who pause to think: Deepgram's speech_final after
# this much silence, and an UtteranceEnd after SPEECH_UTTERANCE_END_MS.
DEEPGRAM_ENDPOINTING_MS = envint("DEEPGRAM_ENDPOINTING_MS", 500)
SPEECH_UTTERANCE_END_MS = envint("SPEECH_UTTERANCE_END_MS", 2000)
ASSEMBLYAI_API_KEY = envget("ASSEMBLYAI_API_KEY")
ASSEMBLYAI_BASE_URL = envget("ASSEMBLYAI_BASE_URL")
ASSEMBLYAI_POLL_SECONDS = envfloat("ASSEMBLYAI_POLL_SECONDS", 3)
ASSEMBLYAI_MAX_WAIT_SECONDS = envint("ASSEMBLYAI_MAX_WAIT_SECONDS", 300)
POLLY_VOICE = envget("POLLY_VOICE", "Joanna")
POLLY_ENGINE = envget("POLLY_ENGINE", "neural")  # standard | neural | generative | long-form
POLLY_REGION = envget("POLLY_REGION", envget("AWS_REGION", "us-east-1"))
POLLY_ENDPOINT_URL = envget("POLLY_ENDPOINT_URL")  # a fake (moto) in tests
# Caps on concurrent calls to each provider, across every process and host.
CAP_ASSEMBLYAI = envint("CAP_ASSEMBLYAI", 5)
CAP_POLLY = envint("CAP_POLLY", 26)
# Web search (Serper) for the report's learning resources; off without a key.
SERPER_API_KEY = envget("SERPER_API_KEY")
SERPER_BASE_URL = envget("SERPER_BASE_URL", "https://google.serper.dev")
SERPER_TIMEOUT_SECONDS = envfloat("SERPER_TIMEOUT_SECONDS", 5)
SERPER_CACHE_SECONDS = envint("SERPER_CACHE_SECONDS", 7 * 24 * 3600)
CAP_SERPER = envint("CAP_SERPER", 5)
CAP_DEEPGRAM = envint("CAP_DEEPGRAM", 10)
# The local speech-to-text engine. CAP_LOCAL_STT, the one setting these
# replace, is still read as the default of all three (deprecated).
_cap_local_stt = envint("CAP_LOCAL_STT", 2)
CAP_LOCAL_STT_LIVE = envint("CAP_LOCAL_STT_LIVE", _cap_local_stt)  # live streams, across every host
CAP_LOCAL_STT_BATCH = envint("CAP_LOCAL_STT_BATCH", _cap_local_stt)  # uploads, across every host (= stt workers)
LOCAL_STT_CALLS_PER_PROCESS = envint("LOCAL_STT_CALLS_PER_PROCESS", _cap_local_stt)  # Whisper calls at once in one process
del _cap_local_stt
CAP_LOCAL_TTS = envint("CAP_LOCAL_TTS", 2)
CAP_LEASE_SECONDS = envint("CAP_LEASE_SECONDS", 30)  # a crashed holder's slot frees after this
SPEECH_TIMEOUT = envfloat("SPEECH_TIMEOUT", 30)  # seconds per provider call
SPEECH_RETRIES = envint("SPEECH_RETRIES", 3)
# Uploaded answers.
AUDIO_UPLOAD_MAX_BYTES = envint("AUDIO_UPLOAD_MAX_BYTES", 25 * 1024 * 1024)
AUDIO_UPLOAD_MAX_SECONDS = envint("AUDIO_UPLOAD_MAX_SECONDS", 600)
# Any request body larger than this is answered 413 before Django reads it
# (lib.middleware.limit_request_body): the largest recording plus room
# for the multipart envelope and the form's other fields.
REQUEST_MAX_BYTES = envint("REQUEST_MAX_BYTES", AUDIO_UPLOAD_MAX_BYTES + 1024 * 1024)
# The server's end-of-turn decision (interviews.microphone, speech.turn_policy):
# at each pause, smart-turn's probability that the answer is finished and the
# transcript's last words. Finished: sent this long after the end of speech.
SPEECH_TURN_FINISHED_PAUSE_MS = envint("SPEECH_TURN_FINISHED_PAUSE_MS", 800)
# Unfinished ("…and", "let me think"): keep listening this long, then ask
# "are you done?" with a countdown of SPEECH_TURN_ASK_SECONDS.
SPEECH_TURN_THINKING_SECONDS = envfloat("SPEECH_TURN_THINKING_SECONDS", 25)
# Unsure (the words sound complete, the model is below the threshold): ask
# after this long instead.
SPEECH_TURN_UNSURE_SECONDS = envfloat("SPEECH_TURN_UNSURE_SECONDS", 4)
SPEECH_TURN_ASK_SECONDS = envfloat("SPEECH_TURN_ASK_SECONDS", 5)
# The model's probability at or above which an answer without cues is finished.
SPEECH_TURN_THRESHOLD = envfloat("SPEECH_TURN_THRESHOLD", 0.5)
# A live stream closes after this long without an audio frame (the page sends
# frames all the time the microphone is on, silence included), and at the
# latest this long after it opened, so no socket keeps a slot for ever.
SPEECH_STREAM_IDLE_SECONDS = envfloat("SPEECH_STREAM_IDLE_SECONDS", 30)
SPEECH_STREAM_MAX_SECONDS = envfloat("SPEECH_STREAM_MAX_SECONDS", 15 * 60)

# django-q2. The default cluster builds reports; `stt` and `tts` run speech
# work, one worker per call the provider allows at once (start them with
# Q_CLUSTER_NAME=stt|tts manage.py qcluster; enqueue with cluster="stt"|"tts").
# A speech task may wait for a capped slot and then for the provider, so its
# timeout covers both. Each cluster prefetches one task (queue_limit), so a
# pulled task normally starts at once and at worst after about one timeout;
# `retry` (when the broker delivers again a task whose worker died) allows for
# that wait plus the run, and SpeechTask.claim then re-claims the task's row.
_stt_timeout = 2 * ASSEMBLYAI_MAX_WAIT_SECONDS + 60
_tts_timeout = int(SPEECH_TIMEOUT * (SPEECH_RETRIES + 3)) + 60
Q_CLUSTER = {
    # The name signs queued tasks: it must be the same in every process.
    "name": "interviewer",
    "workers": envint("Q_WORKERS", 2),
    "timeout": envint("Q_TIMEOUT", 300),
    "retry": envint("Q_RETRY", 360),
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 500,
    "poll": 0.2,
    "label": "Background tasks",
    "ALT_CLUSTERS": {
        "stt": {
            "workers": CAP_ASSEMBLYAI if SPEECH_BATCH_STT == "assemblyai" else CAP_LOCAL_STT_BATCH,
            "timeout": _stt_timeout,
            "retry": 2 * _stt_timeout + 60,
            "queue_limit": 1,
        },
        "tts": {
            "workers": CAP_POLLY if SPEECH_TTS == "polly" else CAP_LOCAL_TTS,
            "timeout": _tts_timeout,
            "retry": 2 * _tts_timeout + 60,
            "queue_limit": 1,
        },
    },
}
del _stt_timeout, _tts_timeout
# The ORM broker (the database) by default, even with Redis: it delivers a task
# again when its worker dies mid-task. The Redis broker pops tasks off a list
# and loses one whose worker dies; choose it with Q_BROKER=redis.
Q_BROKER = envget("Q_BROKER", "orm")
if Q_BROKER == "orm":
    Q_CLUSTER["orm"] = "default"
elif Q_BROKER == "redis" and REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    raise ValueError(f"Q_BROKER must be 'orm', or 'redis' with REDIS_URL set; got {Q_BROKER!r}")
if envget("Q_SYNC", "false") == "true":
    Q_CLUSTER["sync"] = True  # run tasks inline: only for tests and debugging

# ----- Operations: metrics, structured logs, health, scheduled cleanup -----
# Added last so it wraps whatever the lists above hold. django-prometheus's
# "before" middleware must be first and its "after" middleware last;
# RequestContextMiddleware runs next so every log line of a request (and the
# response) carries its X-Request-ID.
INSTALLED_APPS += ["django_prometheus"]
# Request metrics with django-prometheus's names, counted on the loop (its own middleware is sync).
MIDDLEWARE = [
    "lib.middleware.RequestMetricsMiddleware",
    "lib.logging.RequestContextMiddleware",
    *MIDDLEWARE,
]
# /metrics answers when DEBUG is on, to `Authorization: Bearer <METRICS_TOKEN>`,
# or to a client address in METRICS_ALLOWED_IPS (addresses or CIDR networks,
# matched against the client address of TRUSTED_PROXIES); else 404. No address
# is allowed by default: a proxy on the same host makes every visitor loopback.
METRICS_TOKEN = envget("METRICS_TOKEN")
METRICS_ALLOWED_IPS = [a.strip() for a in envget("METRICS_ALLOWED_IPS", "").split(",") if a.strip()]
# One JSON object per line (for log shippers) or plain text for people.
LOG_FORMAT = envget("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ValueError(f"LOG_FORMAT must be 'json' or 'plain', got {LOG_FORMAT!r}")
LOGGING["formatters"]["json"] = {"()": "lib.logging.JsonFormatter"}
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
# /readyz fails unless at least this many django-q2 clusters send heartbeats
# (0: report workers without failing on them).
READYZ_MIN_CLUSTERS = envint("READYZ_MIN_CLUSTERS", 1)
# Probes and scrapers often speak plain HTTP to the process itself: answer them
# rather than redirect them to HTTPS.
SECURE_REDIRECT_EXEMPT = [*globals().get("SECURE_REDIRECT_EXEMPT", []), r"^healthz$", r"^readyz$", r"^metrics$"]
# Cluster heartbeats live in the cache. Without Redis the default cache is
# per-process memory, which the web process cannot read: keep them in files
# that every process on this machine shares (one directory per database).
if not REDIS_URL:
    import hashlib as _hashlib
    import tempfile as _tempfile

    _db_key = _hashlib.sha256(str(DATABASES["default"]["NAME"]).encode()).hexdigest()[:12]
    CACHES["q_status"] = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(Path(_tempfile.gettempdir()) / f"interviewer-q-status-{_db_key}"),
    }
    Q_CLUSTER["cache"] = "q_status"
    del _hashlib, _tempfile, _db_key
# Scheduled cleanup (manage.py setup_schedules): active interviews idle this
# long are marked abandoned; answer recordings, cached speech and finished
# speech tasks older than this are deleted.
INTERVIEW_IDLE_HOURS = envint("INTERVIEW_IDLE_HOURS", 24)
AUDIO_RETENTION_DAYS = envint("AUDIO_RETENTION_DAYS", 30)

# Rate limits
# "count/period" (period s, m, h or d, optionally with a multiplier: "5/10m"),
# counted in the cache so they hold across processes (lib/ratelimit.py).
# RATE_LIMIT_<SCOPE> is per user, RATE_LIMIT_<SCOPE>_IP per client address; an
# empty value turns that limit off. allauth's own limits are ACCOUNT_RATE_LIMITS.
RATE_LIMITS_ENABLED = envbool("RATE_LIMITS_ENABLED", "true")
RATE_LIMIT_PREFIX = envget("RATE_LIMIT_PREFIX", "v1")  # change to start every counter afresh
# New interviews (every POST counts, including ones with form errors).
RATE_LIMIT_INTERVIEWS = envget("RATE_LIMIT_INTERVIEWS", "20/h")
RATE_LIMIT_INTERVIEWS_IP = envget("RATE_LIMIT_INTERVIEWS_IP", "60/h")
RATE_LIMIT_ANSWERS = envget("RATE_LIMIT_ANSWERS", "30/m")
RATE_LIMIT_ANSWERS_IP = envget("RATE_LIMIT_ANSWERS_IP", "60/m")
RATE_LIMIT_RETRIES = envget("RATE_LIMIT_RETRIES", "10/m")
RATE_LIMIT_RETRIES_IP = envget("RATE_LIMIT_RETRIES_IP", "30/m")
# "Rebuild report" (only offered for a failed or missing report): one model call each.
RATE_LIMIT_REPORTS = envget("RATE_LIMIT_REPORTS", "5/h")
RATE_LIMIT_REPORTS_IP = envget("RATE_LIMIT_REPORTS_IP", "20/h")
RATE_LIMIT_UPLOADS = envget("RATE_LIMIT_UPLOADS", "20/h")
RATE_LIMIT_UPLOADS_IP = envget("RATE_LIMIT_UPLOADS_IP", "60/h")
RATE_LIMIT_SPEECH_SOCKETS = envget("RATE_LIMIT_SPEECH_SOCKETS", "20/m")
RATE_LIMIT_SPEECH_SOCKETS_IP = envget("RATE_LIMIT_SPEECH_SOCKETS_IP", "60/m")
