"""A fake AssemblyAI pre-recorded (batch) API on 127.0.0.1, speaking its REST protocol.

The real `assemblyai` SDK talks to it when its base URL is `fake.url`
(settings.ASSEMBLYAI_BASE_URL, `aai.Settings(base_url=…)`, or `aai.settings.base_url`):

    POST /v2/upload               raw audio body (plain or chunked) -> {"upload_url": ...}
    POST /v2/transcript           JSON {"audio_url": ..., ...}      -> transcript, status "queued"
    GET  /v2/transcript/{id}      queued -> processing -> completed (text, words in ms,
                                  audio_duration in s) or status "error" with "error"

The key must arrive as the bare `Authorization` header (401 otherwise).

Scripting:

    fake.script("Hello there.")                       # the next transcript's text (FIFO)
    fake.script(words=[("Hello", 0, 400)], audio_duration=2)
    fake.script(error="Transcoding failed. File does not appear to contain audio.")
    fake.script("slow", polls=5)                      # 5 GETs before it completes
    fake.script("timed", processing_seconds=0.5)      # completes 0.5 s after creation (wall time)
    fake.fail(429, times=2)                           # the next 2 requests of any kind
    fake.fail(500, times=3, path="/v2/transcript")   # only requests under this path
    fake.fail(503, times=1, retry_after=1)            # with a Retry-After header
    fake.default(...)                                 # what unscripted transcripts get

Inspection: `fake.requests` (FakeRequest: method, path, headers, body), `fake.uploads`
(bytes per upload), `fake.transcripts` (id -> record with .request JSON, .status, .polls),
`fake.max_in_flight` (most transcripts queued/processing at once — a transcript is in
flight from creation until a GET has returned its final status), `fake.in_flight`,
`fake.max_concurrent_requests`, `fake.url`, `fake.api_key`.

In pytest: import the `fake_assemblyai` fixture; it points settings.ASSEMBLYAI_BASE_URL
and ASSEMBLYAI_API_KEY at the fake and shortens ASSEMBLYAI_POLL_SECONDS.
Outside pytest: `with FakeAssemblyAI() as fake: ...`.
"""

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from tests.fakes.http_server import FakeServer, Handler

DEFAULT_KEY = "fake-assemblyai-key"
DEFAULT_TEXT = "I led the migration to the new billing system."
WORD_MS = 300

_ERRORS = {
    400: "Bad request",
    401: "Authentication error, API token missing/invalid",
    404: "Transcript not found",
    429: "Too many requests: you have exceeded your rate limit",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


@dataclass
class Script:
    text: str = DEFAULT_TEXT
    words: list = None  # [(text, start_ms, end_ms)]; by default WORD_MS per word of `text`
    audio_duration: int = None  # whole seconds (as the API reports); by default the last word's end, rounded up
    error: str = None  # status "error" with this message instead of a transcript
    polls: int = 2  # GETs answered queued/processing before the final status
    processing_seconds: float = None  # or: final once this much time passed since creation

    def word_objs(self):
        words = self.words
        if words is None:
            words = [(w, i * WORD_MS, (i + 1) * WORD_MS) for i, w in enumerate(self.text.split())]
        return [
            {"text": w, "start": int(s), "end": int(e), "confidence": 0.97, "speaker": None} for w, s, e in words
        ]


@dataclass
class Failure:
    status: int
    path: str = None
    message: str = None
    retry_after: float = None


@dataclass
class FakeRequest:
    method: str
    path: str
    headers: dict
    body: object = None


@dataclass
class TranscriptRecord:
    id: str
    request: dict
    script: Script
    created: float = field(default_factory=time.monotonic)
    status: str = "queued"
    polls: int = 0
    finished: bool = False  # a GET returned its final status


class _Handler(Handler):
    server_version = "FakeAssemblyAI/1.0"

    def do_GET(self):
        self._guarded("GET")

    def do_POST(self):
        self._guarded("POST")

    def do_DELETE(self):
        self._guarded("DELETE")

    def _guarded(self, method):
        fake = self.fake
        with fake._lock:
            fake._active += 1
            fake.max_concurrent_requests = max(fake.max_concurrent_requests, fake._active)
        try:
            self._handle(method)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        finally:
            with fake._lock:
                fake._active -= 1

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self, method):
        fake = self.fake
        path = urlsplit(self.path).path
        raw = self._read_body()
        body = raw
        if path != "/v2/upload" and raw:
            try:
                body = json.loads(raw)
            except ValueError:
                pass
        fake._record(FakeRequest(method, path, {k.lower(): v for k, v in self.headers.items()}, body))

        if self.headers.get("Authorization") != fake.api_key:
            return self._json(401, {"error": _ERRORS[401]})
        failure = fake._next_failure(path)
        if failure:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return self._json(failure.status, {"error": failure.message or _ERRORS.get(failure.status, "Error")}, headers)

        if method == "POST" and path == "/v2/upload":
            if not raw:
                return self._json(400, {"error": "Upload body is empty"})
            return self._json(200, {"upload_url": fake._store_upload(raw)})
        if method == "POST" and path == "/v2/transcript":
            if not isinstance(body, dict) or not body.get("audio_url"):
                return self._json(400, {"error": "audio_url is required"})
            return self._json(200, fake._create(body))
        if method == "GET" and path.startswith("/v2/transcript/"):
            found = fake._poll(path.rsplit("/", 1)[1])
            if found is None:
                return self._json(404, {"error": _ERRORS[404]})
            return self._json(200, found)
        return self._json(404, {"error": f"Unknown path {method} {path}"})

    def _json(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class FakeAssemblyAI(FakeServer):
    """A scripted fake AssemblyAI server in a background thread. See the module docstring."""

    def __init__(self, api_key=DEFAULT_KEY):
        self.api_key = api_key
        self.requests = []
        self.uploads = {}  # upload_url -> bytes
        self.transcripts = {}  # id -> TranscriptRecord
        self.in_flight = 0
        self.max_in_flight = 0
        self.max_concurrent_requests = 0
        self._active = 0
        self._scripts = deque()
        self._failures = deque()
        self._default = Script()
        self._lock = threading.Lock()
        self.serve(_Handler, "fake-assemblyai")

    # ----- scripting -----

    def script(self, text=DEFAULT_TEXT, *, times=1, **kwargs):
        """Queue what the next transcript(s) will say. kwargs are Script's fields."""
        with self._lock:
            for _ in range(times):
                self._scripts.append(Script(text=text, **kwargs))
        return self

    def default(self, text=DEFAULT_TEXT, **kwargs):
        with self._lock:
            self._default = Script(text=text, **kwargs)
        return self

    def fail(self, status, *, times=1, path=None, message=None, retry_after=None):
        """The next `times` requests (under `path` if given) get HTTP `status`."""
        with self._lock:
            for _ in range(times):
                self._failures.append(Failure(int(status), path, message, retry_after))
        return self

    def reset(self):
        with self._lock:
            self._scripts.clear()
            self._failures.clear()
            self._default = Script()
            self.max_in_flight = self.in_flight
            self.max_concurrent_requests = 0

    # ----- inspection -----

    def paths(self, method=None):
        return [r.path for r in self.requests if method is None or r.method == method]

    # ----- internals (server threads) -----

    def _record(self, req):
        with self._lock:
            self.requests.append(req)

    def _next_failure(self, path):
        with self._lock:
            for i, failure in enumerate(self._failures):
                if failure.path is None or path.startswith(failure.path):
                    del self._failures[i]
                    return failure
        return None

    def _store_upload(self, data):
        url = f"https://cdn.assemblyai.com/upload/{uuid.uuid4()}"
        with self._lock:
            self.uploads[url] = data
        return url

    def _create(self, request):
        with self._lock:
            script = self._scripts.popleft() if self._scripts else self._default
            record = TranscriptRecord(id=str(uuid.uuid4()), request=request, script=script)
            self.transcripts[record.id] = record
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self._body(record)

    def _poll(self, transcript_id):
        with self._lock:
            record = self.transcripts.get(transcript_id)
            if record is None:
                return None
            record.polls += 1
            script = record.script
            if script.processing_seconds is not None:
                done = time.monotonic() - record.created >= script.processing_seconds
            else:
                done = record.polls > script.polls
            if done:
                record.status = "error" if script.error else "completed"
                if not record.finished:
                    record.finished = True
                    self.in_flight -= 1
            else:
                record.status = "processing" if record.polls > 1 or script.processing_seconds is not None else "queued"
            return self._body(record)

    def _body(self, record):
        body = {
            "id": record.id,
            "status": record.status,
            "audio_url": record.request.get("audio_url"),
            "language_code": record.request.get("language_code", "en_us"),
            "text": None,
            "words": None,
            "audio_duration": None,
            "confidence": None,
            "error": None,
        }
        script = record.script
        if record.status == "completed":
            words = script.word_objs()
            duration = script.audio_duration
            if duration is None:
                duration = -(-words[-1]["end"] // 1000) if words else 0
            body.update(text=script.text, words=words, audio_duration=duration, confidence=0.96)
        elif record.status == "error":
            body["error"] = script.error
        return body

    # ----- lifecycle -----



@pytest.fixture
def fake_assemblyai(settings):
    """A running FakeAssemblyAI; the ASSEMBLYAI_* settings point at it, polling every 10 ms."""
    fake = FakeAssemblyAI()
    settings.ASSEMBLYAI_BASE_URL = fake.url
    settings.ASSEMBLYAI_API_KEY = fake.api_key
    settings.ASSEMBLYAI_POLL_SECONDS = 0.01
    try:
        yield fake
    finally:
        fake.close()
