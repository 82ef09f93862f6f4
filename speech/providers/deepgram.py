"""Live transcription through Deepgram's streaming API (deepgram-sdk v7, async client).

One `DeepgramLiveTranscriber` per browser stream. It opens
`wss://api.deepgram.com/v1/listen` (or settings.DEEPGRAM_URL, e.g. a fake) with
linear16 / 16 kHz / mono, interim results, endpointing, utterance-end and VAD
events, and maps Deepgram's messages to SpeechEvents:

    Results, is_final false  -> PARTIAL  the words not yet settled (Deepgram's
                                          interim covers only the audio after the
                                          last final, so PARTIAL never repeats a
                                          FINAL: the page shows finals + partial)
    Results, is_final true   -> FINAL    that stretch's text and word timings;
                                          speech_final marks the end of a stretch:
                                          then ENDPOINT, at its last word's end
    SpeechStarted            -> SPEECH_STARTED
    UtteranceEnd             -> UTTERANCE_END
    Metadata                 -> (ignored)
    socket dropped / Error   -> ERROR (a message safe to show) then CLOSED

While no audio flows (the candidate is silent or muted) a KeepAlive goes out
every KEEPALIVE_SECONDS, or Deepgram would close the stream after 10 s.
`finish()` sends CloseStream, which flushes the last finals, and waits (at most
FINISH_TIMEOUT_SECONDS) for Deepgram to close; `close()` aborts at once.

Connecting is retried through lib.resilience (429, 5xx, refused and timed-out
connections are retryable; a rejected key is not). Nothing here blocks the loop:
the SDK is imported and its client built in a thread, once per key and URL.
"""

import asyncio
import contextlib
import logging
import threading

from django.conf import settings

from lib import resilience
from speech.providers.base import (
    CLOSED,
    ENDPOINT,
    ERROR,
    FINAL,
    PARTIAL,
    SAMPLE_RATE,
    SPEECH_STARTED,
    UTTERANCE_END,
    SpeechError,
    SpeechEvent,
    Word,
)

log = logging.getLogger(__name__)

PROVIDER = "deepgram"
KEEPALIVE_SECONDS = 4.0  # Deepgram wants one every 3–5 s of silence
FINISH_TIMEOUT_SECONDS = 5.0  # how long finish() waits for the last finals
CLOSE_TIMEOUT_SECONDS = 2.0  # how long a close handshake may take before we give up on it

MSG_LOST = "The live transcription connection was lost. Your text so far is kept; type the rest or retry."
MSG_ENDED = "The live transcription service ended the stream. Your text so far is kept; type the rest or retry."
MSG_VENDOR_ERROR = "Live transcription reported an error. Your text so far is kept; type the rest or retry."
MSG_UNCONFIGURED = "Live transcription is not configured on this server. Please type your answer."
MSG_AUTH = "Live transcription is unavailable (the service refused our credentials). Please type your answer."
MSG_BUSY = "Live transcription is busy right now. Please try again in a moment or type your answer."
MSG_DOWN = "Live transcription is temporarily unavailable. Please try again in a moment or type your answer."
MSG_REJECTED = "Live transcription could not start. Please type your answer."

_clients = {}
_clients_lock = threading.Lock()


def _environment(url):
    from deepgram.environment import DeepgramClientEnvironment

    if not url:
        return DeepgramClientEnvironment.PRODUCTION
    url = url.rstrip("/")
    scheme, sep, rest = url.partition("://")
    ws_scheme, http_scheme = {"wss": ("wss", "https"), "https": ("wss", "https")}.get(scheme, ("ws", "http"))
    url, rest = f"{ws_scheme}://{rest}", f"{http_scheme}://{rest}"
    return DeepgramClientEnvironment(base=rest, production=url, agent=url, agent_rest=rest)


def _client(api_key, url):
    """One AsyncDeepgramClient per key and URL, per process (building one costs
    tens of milliseconds of CPU: never on the event loop)."""
    key = (api_key, url or "")
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            from deepgram import AsyncDeepgramClient

            client = AsyncDeepgramClient(api_key=api_key, environment=_environment(url))
            _clients[key] = client
        return client


def _connect_error(exc):
    """A SpeechError for a failed connection attempt."""
    from deepgram.core.api_error import ApiError

    if isinstance(exc, SpeechError):
        return exc
    if isinstance(exc, ApiError):
        status = exc.status_code or 0
        if status in (401, 403):
            return SpeechError(MSG_AUTH, retryable=False)
        if status in (408, 429):
            return SpeechError(MSG_BUSY, retryable=True)
        if status >= 500:
            return SpeechError(MSG_DOWN, retryable=True)
        return SpeechError(MSG_REJECTED, retryable=False)
    # Refused or reset connections, DNS failures, timeouts, broken handshakes.
    return SpeechError(MSG_DOWN, retryable=True)


class DeepgramLiveTranscriber:
    """The live interface of speech.providers.base, backed by Deepgram.

    Options: `language` (e.g. "en-US"; Deepgram's default when absent) and
    `keyterms` (words to boost, e.g. terms from the job description; nova-3).
    Other options (meant for other providers) are ignored.
    """

    def __init__(self, **options):
        self.language = options.get("language") or None
        self.keyterms = [t for t in (options.get("keyterms") or []) if t][:100] or None
        self._queue = asyncio.Queue()
        self._sock = None
        self._stack = None
        self._reader = None
        self._keepalive = None
        self._closer = None
        self._started = False
        self._finishing = False
        self._closing = False
        self._closed_emitted = False
        self._errored = False
        self._last_sent = 0.0
        self._spoken_until = 0.0  # the end of the last final word, stream seconds

    # ----- the interface -----

    async def start(self):
        if self._started:
            raise RuntimeError("start() was already called")
        self._started = True
        if not settings.DEEPGRAM_API_KEY:
            raise SpeechError(MSG_UNCONFIGURED, retryable=False)
        client = await asyncio.to_thread(_client, settings.DEEPGRAM_API_KEY, settings.DEEPGRAM_URL)
        try:
            await resilience.acall_with_retries(lambda: self._connect(client), provider=PROVIDER)
        except resilience.CircuitOpen as exc:
            raise SpeechError(str(exc), retryable=False) from exc
        if self._closing:  # close() arrived while we were connecting
            await self._close_socket()
            return
        self._last_sent = asyncio.get_running_loop().time()
        self._reader = asyncio.create_task(self._read_loop(), name="deepgram-reader")
        self._keepalive = asyncio.create_task(self._keepalive_loop(), name="deepgram-keepalive")

    async def send_audio(self, pcm):
        if not pcm or self._sock is None or self._finishing or self._closing:
            return
        try:
            await self._sock.send_media(bytes(pcm))
        except Exception as exc:  # the reader reports the lost connection
            log.debug("deepgram: audio not sent: %r", exc)
            return
        self._last_sent = asyncio.get_running_loop().time()

    async def finish(self):
        if self._sock is None or self._closing:
            await self.close()
            return
        if not self._finishing:
            self._finishing = True
            try:
                await self._sock.send_close_stream()
            except Exception as exc:
                log.debug("deepgram: CloseStream not sent: %r", exc)
        reader = self._reader
        if reader is not None and not reader.done():
            timeout = min(FINISH_TIMEOUT_SECONDS, float(settings.SPEECH_TIMEOUT))
            try:
                await asyncio.wait_for(asyncio.shield(reader), timeout)
            except asyncio.TimeoutError:
                log.warning("deepgram: no close %.1f s after CloseStream; closing the stream", timeout)
            except Exception:
                pass
        await self.close()

    async def close(self):
        self._closing = True
        current = asyncio.current_task()
        for task in (self._reader, self._keepalive):
            if task is not None and task is not current and not task.done():
                task.cancel()
        await self._teardown()

    async def events(self):
        while True:
            event = await self._queue.get()
            yield event
            if event.type == CLOSED:
                return

    # ----- connection -----

    def _params(self):
        params = {
            "model": settings.DEEPGRAM_MODEL,
            "encoding": "linear16",
            "sample_rate": SAMPLE_RATE,
            "channels": 1,
            "interim_results": True,
            "endpointing": settings.DEEPGRAM_ENDPOINTING_MS,
            "utterance_end_ms": settings.SPEECH_UTTERANCE_END_MS,
            "vad_events": True,
            "smart_format": True,
        }
        if self.language:
            params["language"] = self.language
        if self.keyterms:
            params["keyterm"] = self.keyterms
        return params

    async def _connect(self, client):
        stack = contextlib.AsyncExitStack()
        try:
            async with asyncio.timeout(float(settings.SPEECH_TIMEOUT)):
                sock = await stack.enter_async_context(client.listen.v1.connect(**self._params()))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = _connect_error(exc)
            log.warning("deepgram: connect failed (%s, retryable=%s): %r", error, error.retryable, exc)
            raise error from exc
        self._stack, self._sock = stack, sock

    async def _read_loop(self):
        error = None
        try:
            async for message in self._sock:
                self._on_message(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._closing:
                log.warning("deepgram: stream lost: %r", exc)
                error = MSG_LOST
        else:
            if not self._finishing and not self._closing:
                log.warning("deepgram: the server closed the stream")
                error = MSG_ENDED
        if error and not self._closing and not self._errored:
            self._emit(SpeechEvent(ERROR, message=error))
        await self._teardown()

    async def _keepalive_loop(self):
        loop = asyncio.get_running_loop()
        while not self._finishing and not self._closing:
            wait = self._last_sent + KEEPALIVE_SECONDS - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                await self._sock.send_keep_alive()
            except Exception as exc:  # the reader reports the lost connection
                log.debug("deepgram: KeepAlive not sent: %r", exc)
                return
            self._last_sent = loop.time()

    async def _teardown(self):
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
        if self._closer is None:
            self._closer = asyncio.ensure_future(self._close_socket())
        try:
            await asyncio.shield(self._closer)
        finally:
            if not self._closed_emitted:
                self._closed_emitted = True
                self._queue.put_nowait(SpeechEvent(CLOSED))

    async def _close_socket(self):
        stack, self._stack = self._stack, None
        if stack is None:
            return
        try:
            await asyncio.wait_for(stack.aclose(), CLOSE_TIMEOUT_SECONDS)
        except Exception as exc:  # already gone, or a server that won't answer
            log.debug("deepgram: close: %r", exc)

    # ----- messages -----

    def _emit(self, event):
        if not self._closed_emitted:
            self._queue.put_nowait(event)

    def _on_message(self, message):
        """Map one Deepgram message to events."""
        kind = getattr(message, "type", None)
        if kind == "Results":
            self._on_results(message)
        elif kind == "SpeechStarted":
            self._emit(SpeechEvent(SPEECH_STARTED))
        elif kind == "UtteranceEnd":
            self._emit(SpeechEvent(UTTERANCE_END))
        elif kind == "Error":
            log.warning(
                "deepgram: error message: %s %s",
                getattr(message, "variant", ""),
                getattr(message, "description", ""),
            )
            if not self._errored:
                self._errored = True
                self._emit(SpeechEvent(ERROR, message=MSG_VENDOR_ERROR))
        # Metadata, binary frames, anything new: nothing to show.

    def _on_results(self, message):
        alternatives = getattr(message.channel, "alternatives", None) or []
        if not alternatives:
            return
        best = alternatives[0]
        text = (best.transcript or "").strip()
        if not text:
            if message.is_final and message.speech_final and self._spoken_until:
                # Endpointing on a stretch with no new words: the earlier ones are all out.
                self._emit(SpeechEvent(ENDPOINT, at=self._spoken_until))
            return
        if not message.is_final:
            self._emit(SpeechEvent(PARTIAL, text=text))
            return
        words = [
            Word(word=w.punctuated_word or w.word, start=float(w.start), end=float(w.end)) for w in (best.words or [])
        ]
        self._emit(SpeechEvent(FINAL, text=text, words=words))
        if words:
            self._spoken_until = max(self._spoken_until, max(w.end for w in words))
        if message.speech_final:
            self._emit(SpeechEvent(ENDPOINT, at=self._spoken_until))
