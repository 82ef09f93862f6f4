"""A fake Amazon Polly (SynthesizeSpeech) on 127.0.0.1, speaking Polly's REST protocol.

boto3 talks to it with `endpoint_url=fake.url` (settings.POLLY_ENDPOINT_URL):

    POST /v1/speech   JSON {"Engine", "OutputFormat", "Text", "TextType", "VoiceId", ...}
                      -> 200, the audio as the body, Content-Type audio/mpeg,
                         x-amzn-RequestCharacters
    errors            -> JSON {"message": ...} with `x-amzn-ErrorType: CODE`;
                         throttling is HTTP 400 ThrottlingException, as Polly does

Unlike moto (whose audio is 8 zero bytes and which never throttles), the audio
is real MPEG-2 layer III frames (24 kHz, 48 kbps, mono, silent) whose length
follows the text and the prosody rate (WORD_SECONDS per word at 100 %), so
durations can be checked. SSML is parsed: malformed SSML gets
InvalidSsmlException, as from Polly. Requests must be SigV4-signed (any key).

Scripting:

    fake.throttle(times=2)                         # 400 ThrottlingException
    fake.fail(500, "ServiceFailureException")      # any status and error code
    fake.latency = 0.2                             # hold each request (concurrency tests)

Inspection: `fake.requests` (FakeRequest: .text (the SSML as sent), .text_type,
.voice, .engine, .output_format, .access_key, .headers, .body, .status),
`fake.ssml` (the Text of each request), `fake.max_concurrent`, `fake.url`.

In pytest: import the `fake_polly` fixture; it sets POLLY_ENDPOINT_URL / POLLY_REGION
and dummy AWS credentials in the environment (no real AWS configuration is read).
Outside pytest: `with FakePolly() as fake: ...`.
"""

import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass

import pytest

from tests.fakes.http_server import FakeServer, Handler

WORD_SECONDS = 0.35
FRAME_SECONDS = 576 / 24000  # MPEG-2 layer III frame at 24 kHz
# One silent frame: MPEG-2, layer III, no CRC, 48 kbps, 24 kHz, mono -> 144 bytes.
MP3_FRAME = bytes([0xFF, 0xF3, 0x64, 0xC0]) + bytes(140)
VOICES = {"Joanna", "Matthew", "Ruth", "Stephen", "Danielle", "Gregory", "Kendra", "Amy", "Brian", "Emma", "Ivy"}
ENGINES = {"standard", "neural", "generative", "long-form"}
FORMATS = {"mp3": "audio/mpeg", "ogg_vorbis": "audio/ogg", "pcm": "audio/pcm"}
MAX_TEXT = 6000

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def silent_mp3(seconds):
    return MP3_FRAME * max(1, round(seconds / FRAME_SECONDS))


@dataclass
class FakeRequest:
    method: str
    path: str
    headers: dict
    body: object
    status: int = 0

    def _get(self, name):
        return self.body.get(name) if isinstance(self.body, dict) else None

    @property
    def text(self):
        return self._get("Text")

    @property
    def text_type(self):
        return self._get("TextType")

    @property
    def voice(self):
        return self._get("VoiceId")

    @property
    def engine(self):
        return self._get("Engine")

    @property
    def output_format(self):
        return self._get("OutputFormat")

    @property
    def access_key(self):
        found = _CREDENTIAL.search(self.headers.get("authorization", ""))
        return found.group(1) if found else None


def _spoken_seconds(text, text_type):
    """Rough length of speech for `text`, honouring <prosody rate> and <break>."""
    rate, pause = 1.0, 0.0
    if text_type == "ssml":
        root = ET.fromstring(text)
        for el in root.iter():
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "prosody" and (el.get("rate") or "").endswith("%"):
                rate = float(el.get("rate")[:-1]) / 100
            if tag == "break" and (el.get("time") or "").endswith("ms"):
                pause += float(el.get("time")[:-2]) / 1000
        words = "".join(root.itertext()).split()
    else:
        words = text.split()
    return pause + len(words) * WORD_SECONDS / max(rate, 0.2)


class _Handler(Handler):
    server_version = "FakePolly/1.0"

    def do_POST(self):
        fake = self.server.fake
        with fake._lock:
            fake._active += 1
            fake.max_concurrent = max(fake.max_concurrent, fake._active)
        try:
            self._handle(fake)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        finally:
            with fake._lock:
                fake._active -= 1

    def do_GET(self):
        self._error(404, "UnknownOperationException", "Only SynthesizeSpeech is faked.")

    def _handle(self, fake):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = raw
        req = FakeRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with fake._lock:
            fake.requests.append(req)
        if fake.latency:
            time.sleep(fake.latency)

        if self.path.split("?")[0] != "/v1/speech":
            return self._error(404, "UnknownOperationException", "Unknown operation", req)
        if not (req.headers.get("authorization") or "").startswith("AWS4-HMAC-SHA256 ") or not req.access_key:
            return self._error(403, "MissingAuthenticationTokenException", "Missing Authentication Token", req)
        failure = fake._next_failure()
        if failure:
            return self._error(failure[0], failure[1], failure[2], req)
        if not isinstance(body, dict):
            return self._error(400, "SerializationException", "Body is not JSON", req)
        if req.voice not in VOICES:
            return self._error(400, "ValidationException", f"Invalid VoiceId {req.voice!r}", req)
        if req.engine and req.engine not in ENGINES:
            return self._error(400, "ValidationException", f"Invalid Engine {req.engine!r}", req)
        if req.output_format not in FORMATS:
            return self._error(400, "ValidationException", f"Invalid OutputFormat {req.output_format!r}", req)
        text = req.text or ""
        if len(text) > MAX_TEXT:
            return self._error(400, "TextLengthExceededException", "Maximum text length has been exceeded", req)
        try:
            seconds = _spoken_seconds(text, req.text_type)
        except ET.ParseError as exc:
            return self._error(400, "InvalidSsmlException", f"Invalid SSML request: {exc}", req)

        data = silent_mp3(seconds) if req.output_format == "mp3" else bytes(int(seconds * 32000))
        req.status = 200
        self.send_response(200)
        self.send_header("Content-Type", FORMATS[req.output_format])
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestCharacters", str(len(text)))
        self.send_header("x-amzn-RequestId", "fake-request-id")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, code, message, req=None):
        if req is not None:
            req.status = status
        data = json.dumps({"message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/coral/com.amazonaws.tropical/")
        self.send_header("x-amzn-RequestId", "fake-request-id")
        self.end_headers()
        self.wfile.write(data)


class FakePolly(FakeServer):
    """A scripted fake Polly in a background thread. See the module docstring."""

    def __init__(self):
        self.requests = []
        self.latency = 0.0
        self.max_concurrent = 0
        self._active = 0
        self._failures = deque()
        self._lock = threading.Lock()
        self.serve(_Handler, "fake-polly")

    def fail(self, status, code, *, times=1, message=None):
        with self._lock:
            for _ in range(times):
                self._failures.append((int(status), code, message or f"{code} (fake)"))
        return self

    def throttle(self, *, times=1):
        return self.fail(400, "ThrottlingException", times=times, message="Rate exceeded")

    def reset(self):
        with self._lock:
            self._failures.clear()
            self.latency = 0.0
            self.max_concurrent = 0

    @property
    def ssml(self):
        return [r.text for r in self.requests]

    def _next_failure(self):
        with self._lock:
            return self._failures.popleft() if self._failures else None



@pytest.fixture
def fake_polly(settings, monkeypatch, tmp_path):
    """A running FakePolly; settings.POLLY_ENDPOINT_URL points at it, with dummy
    AWS credentials and no shared AWS config read from the machine."""
    fake = FakePolly()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "fake-polly-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-polly-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings.POLLY_ENDPOINT_URL = fake.url
    settings.POLLY_REGION = "us-east-1"
    try:
        yield fake
    finally:
        fake.close()
