"""A fake Deepgram live-transcription server (WebSocket, /v1/listen) on 127.0.0.1.

The real deepgram-sdk (`AsyncDeepgramClient(environment=DeepgramClientEnvironment(
production=fake.url, ...))`) talks to it. It runs in a background thread with its
own event loop, so it serves tests on any loop as well as benchmarks.

Protocol, as Deepgram speaks it:
- handshake `GET /v1/listen?model=…&encoding=…` with `Authorization: Token KEY`
  (a wrong or missing key → HTTP 401 at the handshake);
- binary frames are audio; text frames are JSON control messages
  `{"type": "KeepAlive" | "Finalize" | "CloseStream"}`;
- the server sends JSON `Results`, `SpeechStarted`, `UtteranceEnd`, `Metadata`;
- `Finalize` flushes held results (`from_finalize: true`) and keeps the stream open;
  `CloseStream` flushes, sends `Metadata` and closes the socket normally (1000).

Scripting (applies to every connection made after the call):

    fake.after_bytes(3200, speech_started(0.1), results("hello", is_final=False))
    fake.after_bytes(6400, results("hello world", is_final=True, speech_final=True),
                     utterance_end(0.6))
    fake.on_flush(results("and more", start=1.0, is_final=True, from_finalize=True))
    fake.reject(401) / fake.reject(429, times=2)     # refuse the next handshake(s)
    fake.drop_after(8000)                            # abort the TCP connection after N audio bytes
    fake.close_after(8000, 1011, "NET-0001")          # close cleanly (with a close frame) after N bytes
    fake.flush_delay = 0.5                           # wait before answering Finalize/CloseStream
    fake.ignore_close_stream = True                  # never close after CloseStream (a hung server)
    fake.echo_sequence(3200, final_every=10)         # answer every 3200 audio bytes with "seq N"
                                                     # (benchmarks: tell which chunk caused which result)

Inspection: `fake.connections` (list of FakeConnection: .path, .query (dict),
.headers, .audio (bytes received), .controls (control types in order),
.keepalives, .closed), `fake.handshakes` (every attempt, including rejected ones:
(status, query)), `fake.url`, `fake.api_key`.

Message builders: `results`, `speech_started`, `utterance_end`, `metadata`, `error`.

In pytest: import the `fake_deepgram` fixture into the test module; it sets
settings.DEEPGRAM_URL and settings.DEEPGRAM_API_KEY to the fake's.
Outside pytest: `with FakeDeepgram() as fake: ...`.
"""

import asyncio
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

import pytest
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

DEFAULT_KEY = "fake-deepgram-key"
WORD_SECONDS = 0.3  # default length of each word in generated results

_MODEL_INFO = {"name": "general-nova-3", "version": "2025-01-01.0", "arch": "nova-3"}


# ----- message builders (the JSON Deepgram sends) -----


def results(
    text,
    *,
    start=0.0,
    is_final,
    speech_final=False,
    from_finalize=False,
    words=None,
    word_seconds=WORD_SECONDS,
    confidence=0.98,
):
    """A `Results` message. `words` is [(word, start, end), ...]; by default each
    word of `text` lasts `word_seconds`, back to back from `start`. Words carry a
    `punctuated_word` equal to the text's token (the way smart_format does)."""
    tokens = text.split()
    if words is None:
        words = [(tok, start + i * word_seconds, start + (i + 1) * word_seconds) for i, tok in enumerate(tokens)]
    word_objs = []
    for i, (word, w_start, w_end) in enumerate(words):
        punctuated = tokens[i] if i < len(tokens) else word
        word_objs.append(
            {
                "word": word.lower().strip(".,!?;:"),
                "start": round(w_start, 3),
                "end": round(w_end, 3),
                "confidence": confidence,
                "punctuated_word": punctuated,
            }
        )
    end = words[-1][2] if words else start
    return {
        "type": "Results",
        "channel_index": [0, 1],
        "duration": round(max(end - start, 0.0), 3),
        "start": round(start, 3),
        "is_final": is_final,
        "speech_final": speech_final,
        "from_finalize": from_finalize,
        "channel": {"alternatives": [{"transcript": text, "confidence": confidence, "words": word_objs}]},
        "metadata": {
            "request_id": str(uuid.uuid4()),
            "model_info": _MODEL_INFO,
            "model_uuid": str(uuid.uuid4()),
        },
    }


def speech_started(timestamp=0.0):
    return {"type": "SpeechStarted", "channel": [0], "timestamp": timestamp}


def utterance_end(last_word_end):
    return {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": last_word_end}


def metadata(duration=0.0, request_id=None):
    return {
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": request_id or str(uuid.uuid4()),
        "sha256": "0" * 64,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "duration": duration,
        "channels": 1,
        "models": [str(uuid.uuid4())],
        "model_info": {},
    }


def error(description="Something went wrong", variant="server_error"):
    return {"type": "Error", "variant": variant, "description": description, "message": description}


# ----- records -----


@dataclass
class FakeConnection:
    path: str
    query: dict
    headers: dict
    audio: bytearray = field(default_factory=bytearray)
    controls: list = field(default_factory=list)  # control message types, in order
    sent: list = field(default_factory=list)  # JSON messages sent to the client
    closed: bool = False
    dropped: bool = False

    @property
    def keepalives(self):
        return self.controls.count("KeepAlive")


@dataclass
class _Trigger:
    after_bytes: int
    messages: list


class FakeDeepgram:
    def __init__(self, api_key=DEFAULT_KEY):
        self.api_key = api_key
        self.connections = []
        self.handshakes = []  # (status, query) for every handshake attempt
        self.flush_delay = 0.0
        self.ignore_close_stream = False
        self._lock = threading.Lock()
        self._rejects = deque()
        self._triggers = []
        self._flush = []
        self._drop_after = None
        self._close_after = None
        self._echo = None
        self._conn_tasks = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stopped = None
        self._thread = threading.Thread(target=self._run, name="fake-deepgram", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Deepgram server did not start")
        self.url = f"ws://127.0.0.1:{self.port}"

    # ----- scripting -----

    def after_bytes(self, n, *messages):
        """Send `messages` once a connection has received at least `n` audio bytes."""
        with self._lock:
            self._triggers.append(_Trigger(n, list(messages)))
            self._triggers.sort(key=lambda t: t.after_bytes)
        return self

    def on_flush(self, *messages):
        """Messages held back until the client sends Finalize or CloseStream."""
        with self._lock:
            self._flush.extend(messages)
        return self

    def reject(self, status, *, times=1):
        """Refuse the next `times` handshakes with HTTP `status` (401, 429, 500…)."""
        with self._lock:
            self._rejects.extend([int(status)] * times)
        return self

    def drop_after(self, n_bytes):
        """Abort the TCP connection (no close frame) after `n_bytes` of audio."""
        self._drop_after = n_bytes
        return self

    def close_after(self, n_bytes, code=1000, reason=""):
        """Close the WebSocket with `code` after `n_bytes` of audio, as Deepgram
        does on its own (1011 "NET-0001" when no audio came for 10 s)."""
        self._close_after = (n_bytes, code, reason)
        return self

    def script_answer(self, text, *, bytes_per_word=3200, start=0.0):
        """Script a whole utterance: SpeechStarted, an interim per word, one final
        (speech_final) and an UtteranceEnd, spread over the incoming audio."""
        words = text.split()
        self.after_bytes(1, speech_started(start))
        for i in range(1, len(words)):
            self.after_bytes(i * bytes_per_word, results(" ".join(words[:i]), start=start, is_final=False))
        final = results(text, start=start, is_final=True, speech_final=True)
        end = final["channel"]["alternatives"][0]["words"][-1]["end"] if words else start
        self.after_bytes(len(words) * bytes_per_word, final, utterance_end(end))
        return self

    def echo_sequence(self, every=3200, *, final_every=0):
        """Answer each `every` bytes of audio with a `Results` whose transcript is
        "seq N" (N = 0, 1, … counting chunks from the connection's first byte), so a
        client can tell which chunk of its audio caused which message; every
        `final_every`-th one (if not 0) is final, the others interim. Used by the
        relay benchmark (bench/speech_bench.py). Scripted triggers still apply."""
        with self._lock:
            self._echo = (int(every), int(final_every)) if every else None
        return self

    def reset(self):
        with self._lock:
            self._echo = None
            self._triggers.clear()
            self._flush.clear()
            self._rejects.clear()
            self._drop_after = None
            self._close_after = None
            self.flush_delay = 0.0
            self.ignore_close_stream = False

    # ----- inspection -----

    @property
    def last(self):
        return self.connections[-1] if self.connections else None

    def wait_until(self, predicate, timeout=5.0):
        """Block (a thread, not a loop) until predicate() is true; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.01)
        return predicate()

    async def await_until(self, predicate, timeout=5.0):
        """The same from async code, without blocking the caller's loop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.01)
        return predicate()

    # ----- server -----

    def _run(self):
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self):
        self._stopped = asyncio.Event()
        async with serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            ping_interval=None,
            max_size=None,
            close_timeout=1,
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stopped.wait()
            for task in list(self._conn_tasks):
                task.cancel()

    def _process_request(self, connection, request):
        parts = urlsplit(request.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            status = self._rejects.popleft() if self._rejects else None
        if parts.path != "/v1/listen":
            status = status or 404
        elif request.headers.get("Authorization") != f"Token {self.api_key}":
            status = status or 401
        with self._lock:
            self.handshakes.append((status or 101, query))
        if status:
            body = {
                401: "INVALID_AUTH: Invalid credentials.",
                404: "Not found.",
                429: "TOO_MANY_REQUESTS: Too many requests. Please try again later.",
            }.get(status, "Internal server error.")
            return connection.respond(HTTPStatus(status), body + "\n")
        return None

    async def _handle(self, ws):
        self._conn_tasks.add(asyncio.current_task())
        parts = urlsplit(ws.request.path)
        conn = FakeConnection(
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=dict(ws.request.headers.raw_items()),
        )
        with self._lock:
            self.connections.append(conn)
            triggers = [_Trigger(t.after_bytes, list(t.messages)) for t in self._triggers]
            flush = list(self._flush)
            drop_after = self._drop_after
            close_after = self._close_after
            echo = self._echo
        echoed = 0
        request_id = str(uuid.uuid4())
        try:
            async for frame in ws:
                if isinstance(frame, bytes):
                    conn.audio.extend(frame)
                    if drop_after is not None and len(conn.audio) >= drop_after:
                        conn.dropped = True
                        ws.transport.abort()
                        return
                    if close_after is not None and len(conn.audio) >= close_after[0]:
                        await ws.close(close_after[1], close_after[2])
                        return
                    while triggers and len(conn.audio) >= triggers[0].after_bytes:
                        for message in triggers.pop(0).messages:
                            await self._send(ws, conn, message)
                    while echo and len(conn.audio) >= (echoed + 1) * echo[0]:
                        final = bool(echo[1]) and (echoed + 1) % echo[1] == 0
                        chunk_seconds = echo[0] / 32000
                        message = results(
                            f"seq {echoed}", start=echoed * chunk_seconds, is_final=final, word_seconds=chunk_seconds / 2
                        )
                        echoed += 1
                        await self._send(ws, conn, message)
                    continue
                try:
                    kind = json.loads(frame).get("type")
                except (ValueError, AttributeError):
                    kind = "invalid"
                conn.controls.append(kind)
                if kind in ("Finalize", "CloseStream"):
                    if self.flush_delay:
                        await asyncio.sleep(self.flush_delay)
                    # Deepgram flushes the results it still holds (scripted with on_flush).
                    pending, flush = flush, []
                    for message in pending:
                        await self._send(ws, conn, message)
                if kind == "CloseStream" and not self.ignore_close_stream:
                    duration = len(conn.audio) / 32000
                    await self._send(ws, conn, metadata(duration, request_id))
                    await ws.close(1000)
                    return
        except ConnectionClosed:
            pass
        finally:
            conn.closed = True
            self._conn_tasks.discard(asyncio.current_task())

    async def _send(self, ws, conn, message):
        conn.sent.append(message)
        await ws.send(json.dumps(message))

    # ----- lifecycle -----

    def close(self):
        if self._stopped is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def fake_deepgram(settings):
    """A running FakeDeepgram; settings.DEEPGRAM_URL / DEEPGRAM_API_KEY point at it."""
    fake = FakeDeepgram()
    settings.DEEPGRAM_URL = fake.url
    settings.DEEPGRAM_API_KEY = fake.api_key
    try:
        yield fake
    finally:
        fake.close()
