"""A fake Gemini API server that speaks the real wire protocol, on 127.0.0.1.

The real `google-genai` SDK (and so `langchain-google-genai`) talks to it when
given `base_url=fake.url`:

    POST /{version}/models/{model}:generateContent               -> one JSON body
    POST /{version}/models/{model}:streamGenerateContent?alt=sse -> SSE `data: {json}` frames

Responses carry candidates[0].content.parts[0].text, finishReason and
usageMetadata (promptTokenCount, candidatesTokenCount, totalTokenCount), as
Gemini does. The API key must arrive in the `x-goog-api-key` header (or `?key=`).

Scripting: every request takes the next scripted reply from a FIFO queue; when
the queue is empty the `default` reply is used (a plain text reply unless
changed with `fake.default(...)`).

    fake.script("Hello there")                           # text reply
    fake.script(json={"a": 1})                            # JSON text (structured output)
    fake.script(chunks=["ACTION: close\\n---\\n", "Bye"])  # exact SSE frames when streamed
    fake.script("slow", latency=0.5, chunk_delay=0.05)    # wait before replying / between frames
    fake.fail(429)  /  fake.fail(500, times=2)  /  fake.fail(400)  # Google error JSON bodies
    fake.hang(5)                                          # reply after 5 s (beyond a client timeout)
    fake.script(malformed=True)                           # 200 with a body that is not JSON
    fake.script("a b c d e f", drop_after=1)              # stream: send 1 frame, then drop the socket
    fake.script("x", usage=(120, 7))                      # token counts to report

Inspection: `fake.requests` (list of FakeRequest: .path, .model, .stream,
.headers, .body, .prompt, .system, .generation_config), `fake.pending`
(scripted replies not yet used), `fake.url`, `fake.api_key`.

In pytest: `pytest_plugins = ["tests.fakes.gemini"]` (or import `fake_gemini`
into the test module) and use the `fake_gemini` fixture; it sets
GOOGLE_API_KEY to the fake's key and settings.INTERVIEW_LLM_BASE_URL to its URL.
Outside pytest: `with FakeGemini() as fake: ...`.
"""

import json as jsonlib
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes.http_server import FakeServer, Handler

DEFAULT_KEY = "fake-gemini-key"
DEFAULT_TEXT = "This is the fake Gemini's default reply."

# Google's canonical status names for the error bodies.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_STATUS_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission.",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
_PATH = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$")


@dataclass
class Reply:
    """One scripted reply. See the module docstring for what each field does."""

    text: str | None = None
    json: object = None
    chunks: list | None = None  # exact text of each SSE frame (streaming); joined when not streaming
    latency: float = 0.0  # seconds before the response starts
    chunk_delay: float = 0.0  # seconds between SSE frames
    status: int = 200
    message: str | None = None  # error message for status >= 400
    malformed: bool = False  # 200 with a body (or SSE frame) that is not JSON
    drop_after: int | None = None  # streaming: drop the socket after this many frames
    usage: tuple | None = None  # (promptTokenCount, candidatesTokenCount); default: word counts
    finish_reason: str = "STOP"

    def full_text(self):
        if self.chunks is not None:
            return "".join(self.chunks)
        if self.json is not None:
            return jsonlib.dumps(self.json)
        return DEFAULT_TEXT if self.text is None else self.text

    def frames(self):
        """The text of each SSE frame."""
        if self.chunks is not None:
            return list(self.chunks)
        text = self.full_text()
        # A few words per frame, whitespace kept, so there are several frames.
        pieces = re.findall(r"\S+\s*|\s+", text)
        return ["".join(pieces[i : i + 4]) for i in range(0, len(pieces), 4)] or [""]


@dataclass
class FakeRequest:
    method: str
    path: str  # without the query string
    query: dict
    headers: dict  # lower-cased names
    body: object  # parsed JSON, or the raw text if it was not JSON
    version: str = ""
    model: str = ""
    stream: bool = False
    reply: Reply | None = None
    at: float = field(default_factory=time.monotonic)

    @property
    def system(self):
        si = (self.body or {}).get("systemInstruction") or (self.body or {}).get("system_instruction") or {}
        return "\n".join(p.get("text", "") for p in si.get("parts", []) if isinstance(p, dict))

    @property
    def prompt(self):
        """The text of all contents (not the system instruction), joined."""
        texts = []
        for content in (self.body or {}).get("contents", []) if isinstance(self.body, dict) else []:
            for part in content.get("parts", []):
                if isinstance(part, dict) and "text" in part:
                    texts.append(part["text"])
        return "\n".join(texts)

    @property
    def generation_config(self):
        body = self.body if isinstance(self.body, dict) else {}
        return body.get("generationConfig") or body.get("generation_config") or {}


def _words(text):
    return len(text.split())


class _Handler(Handler):
    server_version = "FakeGemini/1.0"

    def do_GET(self):
        self._send_json(404, _error_body(404, "Only POST generateContent is faked."))

    def do_POST(self):
        try:
            self._handle_post()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            # The client went away (e.g. it timed out): nothing more to say.
            self.close_connection = True

    def _handle_post(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        try:
            body = jsonlib.loads(raw) if raw else None
        except ValueError:
            body = raw
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        match = _PATH.match(parts.path)
        req = FakeRequest(
            method="POST",
            path=parts.path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        if match:
            req.version, req.model = match["version"], match["model"]
            req.stream = match["method"] == "streamGenerateContent"
        self.fake._record(req)

        if not match:
            return self._send_json(404, _error_body(404, f"Unknown path {parts.path}"))
        key = req.headers.get("x-goog-api-key") or query.get("key")
        if not key:
            return self._send_json(
                403, _error_body(403, "Method doesn't allow unregistered callers (callers without established identity).")
            )
        if key != self.fake.api_key:
            return self._send_json(400, _error_body(400, "API key not valid. Please pass a valid API key."))
        if req.stream and query.get("alt") != "sse":
            return self._send_json(400, _error_body(400, "The fake only streams with alt=sse."))

        reply = self.fake._next_reply(req)
        req.reply = reply
        if reply.latency and self.fake._stopping.wait(reply.latency):
            return
        if reply.status >= 400:
            return self._send_json(reply.status, _error_body(reply.status, reply.message))
        prompt_tokens = reply.usage[0] if reply.usage else max(1, _words(req.system) + _words(req.prompt))
        if req.stream:
            self._stream(reply, req, prompt_tokens)
        else:
            self._unary(reply, req, prompt_tokens)

    def _payload(self, text, req, prompt_tokens, out_tokens, finish):
        candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": out_tokens,
                "totalTokenCount": prompt_tokens + out_tokens,
            },
            "modelVersion": req.model,
            "responseId": f"fake-{id(req):x}",
        }

    def _unary(self, reply, req, prompt_tokens):
        if reply.malformed:
            return self._send_raw(200, b'{"candidates": [{"content": {"parts": [{"text": "unfinished', "application/json")
        text = reply.full_text()
        out_tokens = reply.usage[1] if reply.usage else _words(text)
        self._send_json(200, self._payload(text, req, prompt_tokens, out_tokens, reply.finish_reason))

    def _stream(self, reply, req, prompt_tokens):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if reply.malformed:
            self._write_chunk(b'data: {"candidates": [{"content": {"parts": [{"text": "unfini\r\n\r\n')
            self._write_chunk(b"")
            return
        frames = reply.frames()
        total_out = reply.usage[1] if reply.usage else _words(reply.full_text())
        seen = ""
        for i, frame in enumerate(frames):
            if reply.drop_after is not None and i >= reply.drop_after:
                return self._drop()
            if i and reply.chunk_delay and self.fake._stopping.wait(reply.chunk_delay):
                return
            seen += frame
            last = i == len(frames) - 1
            out = total_out if last else min(total_out, _words(seen))
            payload = self._payload(frame, req, prompt_tokens, out, reply.finish_reason if last else None)
            self._write_chunk(f"data: {jsonlib.dumps(payload)}\r\n\r\n".encode())
        if reply.drop_after is not None:  # all frames sent, but the body never ends
            return self._drop()
        self._write_chunk(b"")  # the terminating zero-length chunk

    def _write_chunk(self, data):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _drop(self):
        """Close the socket without finishing the chunked body: a dropped connection."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_json(self, status, obj):
        self._send_raw(status, jsonlib.dumps(obj).encode(), "application/json; charset=UTF-8")

    def _send_raw(self, status, data, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _error_body(status, message=None):
    return {
        "error": {
            "code": status,
            "message": message or _STATUS_MESSAGES.get(status, "Error"),
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }


class FakeGemini(FakeServer):
    """A scripted fake Gemini server in a background thread. See the module docstring."""

    def __init__(self, api_key=DEFAULT_KEY):
        self.api_key = api_key
        self.requests = []
        self._queue = deque()
        self._default = Reply()
        self._responder = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.serve(_Handler, "fake-gemini")

    # ----- scripting -----

    def script(self, text=None, *, times=1, **kwargs):
        """Queue a reply (`times` copies). kwargs are Reply's fields. Returns self."""
        with self._lock:
            for _ in range(times):
                self._queue.append(Reply(text=text, **kwargs))
        return self

    def fail(self, status, *, times=1, message=None, latency=0.0):
        """Queue `times` error replies with Google's error JSON body."""
        return self.script(status=status, message=message, latency=latency, times=times)

    def hang(self, seconds, *, times=1):
        """Queue replies that only start after `seconds` (longer than a client timeout)."""
        return self.script(latency=seconds, times=times)

    def default(self, text=None, **kwargs):
        """The reply used when the queue is empty (a plain text reply unless set)."""
        self._default = Reply(text=text, **kwargs)
        return self

    @property
    def pending(self):
        return len(self._queue)

    def reset(self):
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self._default = Reply()
            self._responder = None

    def respond_with(self, responder):
        """Answer unscripted requests with `responder(request) -> Reply` (e.g. by
        whether the call streams). Returns self."""
        self._responder = responder
        return self

    def _next_reply(self, req=None):
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self._responder is not None and req is not None:
            return self._responder(req)
        return self._default

    def _record(self, req):
        with self._lock:
            self.requests.append(req)

    # ----- clients -----

    def client_kwargs(self):
        """Keyword arguments for ChatGoogleGenerativeAI / init_chat_model."""
        return {"api_key": self.api_key, "base_url": self.url}

    def chat_model(self, model="gemini-2.5-flash", **kwargs):
        from langchain_google_genai import ChatGoogleGenerativeAI

        return ChatGoogleGenerativeAI(model=model, **{"max_retries": 0, **self.client_kwargs(), **kwargs})

    # ----- lifecycle -----

    def close(self):
        self._stopping.set()
        super().close()



@pytest.fixture
def fake_gemini(monkeypatch, settings):
    """A running FakeGemini; GOOGLE_API_KEY and INTERVIEW_LLM_BASE_URL point at it."""
    fake = FakeGemini()
    monkeypatch.setenv("GOOGLE_API_KEY", fake.api_key)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    settings.INTERVIEW_LLM_BASE_URL = fake.url
    try:
        yield fake
    finally:
        fake.close()
