"""Batch transcription of uploaded answers through AssemblyAI (the `assemblyai` SDK).

    AssemblyAITranscriber().transcribe(path) -> Transcript

Three steps, each through the SDK's own REST calls (`assemblyai.api`) on a
client whose settings are ours alone (the SDK's global `aai.settings` is never
touched, so concurrent workers can't disturb each other):

0. decode the file locally, counting samples, and refuse it if it plays
   longer than AUDIO_UPLOAD_MAX_SECONDS (its header may claim less),
1. upload the file (`POST /v2/upload`, streamed from disk),
2. create the transcript (`POST /v2/transcript` with the upload URL),
3. poll `GET /v2/transcript/ID` every ASSEMBLYAI_POLL_SECONDS until it is
   completed or failed, giving up after ASSEMBLYAI_MAX_WAIT_SECONDS.

The SDK's own `Transcriber.transcribe` polls at a fixed interval without a
deadline, hence the explicit loop. Each call is retried through
lib.resilience (429, 5xx and network failures are retryable); a transcript
whose status is "error" raises SpeechError carrying AssemblyAI's message.
Word timings arrive in milliseconds and leave in seconds.

Synchronous and blocking: run it in a django-q2 worker or a thread.
"""

import logging
import threading
import time

from django.conf import settings

from lib import resilience
from speech.providers.base import SpeechError, Transcript, Word

log = logging.getLogger(__name__)

PROVIDER = "assemblyai"

MSG_UNCONFIGURED = "Transcription of recordings is not configured on this server. Please type your answer."
MSG_AUTH = "The transcription service refused our credentials. Please type your answer or try later."
MSG_BUSY = "The transcription service is busy right now. Please try again in a moment."
MSG_DOWN = "The transcription service is temporarily unavailable. Please try again in a moment."
MSG_UNREACHABLE = "Could not reach the transcription service. Please try again in a moment."
MSG_TOO_SLOW = "The transcription service took too long with this recording. Please try again later."
MSG_FAILED = "The transcription service could not transcribe this recording: {message}"
MSG_REJECTED = "The transcription service rejected this recording: {message}"

_clients = {}
_clients_lock = threading.Lock()


def _client():
    """One SDK client (an httpx.Client: thread-safe, pooled) per configuration, per process."""
    import assemblyai as aai

    base_url = (settings.ASSEMBLYAI_BASE_URL or "https://api.assemblyai.com").rstrip("/")
    key = (settings.ASSEMBLYAI_API_KEY, base_url, float(settings.SPEECH_TIMEOUT))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = aai.Client(
                settings=aai.Settings(api_key=key[0], base_url=base_url, http_timeout=key[2]),
            )
            _clients[key] = client
        return client


def _vendor_message(exc):
    """AssemblyAI's own message out of the SDK's "failed to …: MESSAGE"."""
    text = str(exc).strip()
    if ": " in text:
        text = text.split(": ", 1)[1].strip()
    return text[:300] or "unknown error"


def _speech_error(exc):
    """Map whatever an SDK call raised to a SpeechError."""
    import httpx
    from assemblyai.types import AssemblyAIError

    if isinstance(exc, SpeechError):
        return exc
    if isinstance(exc, AssemblyAIError):
        status = exc.status_code or 0
        if status in (401, 403):
            return SpeechError(MSG_AUTH, retryable=False)
        if status in (408, 429):
            return SpeechError(MSG_BUSY, retryable=True)
        if status >= 500 or status == 0:
            return SpeechError(MSG_DOWN, retryable=True)
        return SpeechError(MSG_REJECTED.format(message=_vendor_message(exc)), retryable=False)
    if isinstance(exc, httpx.TimeoutException):
        return SpeechError(MSG_BUSY, retryable=True)
    if isinstance(exc, httpx.TransportError):
        return SpeechError(MSG_UNREACHABLE, retryable=True)
    return SpeechError(MSG_DOWN, retryable=False)


class AssemblyAITranscriber:
    def transcribe(self, path) -> Transcript:
        if not settings.ASSEMBLYAI_API_KEY:
            raise SpeechError(MSG_UNCONFIGURED, retryable=False)
        from assemblyai.types import TranscriptStatus

        from speech.audio import decoded_seconds  # av (FFmpeg) loads only where uploads are transcribed

        # What counts is how long it plays, not what its header says; the
        # vendor bills (and we wait) by that, so check it before sending.
        decoded_seconds(path, max_seconds=settings.AUDIO_UPLOAD_MAX_SECONDS)
        client = _client()
        upload_url = self._call(lambda: self._upload(client, path))
        transcript = self._call(lambda: self._create(client, upload_url))
        log.info("assemblyai: transcript %s created for %s", transcript.id, path)

        poll = max(0.0, float(settings.ASSEMBLYAI_POLL_SECONDS))
        deadline = time.monotonic() + float(settings.ASSEMBLYAI_MAX_WAIT_SECONDS)
        while transcript.status not in (TranscriptStatus.completed, TranscriptStatus.error):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("assemblyai: transcript %s still %s; giving up", transcript.id, transcript.status)
                raise SpeechError(MSG_TOO_SLOW, retryable=True)
            time.sleep(min(poll, remaining))
            transcript = self._call(lambda tid=transcript.id: self._get(client, tid))

        if transcript.status == TranscriptStatus.error:
            message = (transcript.error or "unknown error").strip()
            log.warning("assemblyai: transcript %s failed: %s", transcript.id, message)
            raise SpeechError(MSG_FAILED.format(message=message), retryable=False)
        return self._to_transcript(transcript)

    # ----- the calls -----

    @staticmethod
    def _call(fn):
        try:
            return resilience.call_with_retries(fn, provider=PROVIDER)
        except resilience.CircuitOpen as exc:
            raise SpeechError(str(exc), retryable=False) from exc

    @staticmethod
    def _upload(client, path):
        from assemblyai import api

        with open(path, "rb") as audio:  # a missing file is our bug, not the vendor's: let it raise
            try:
                return api.upload_file(client.http_client, audio)
            except Exception as exc:
                raise _speech_error(exc) from exc

    @staticmethod
    def _create(client, upload_url):
        from assemblyai import api
        from assemblyai.types import TranscriptRequest

        try:
            return api.create_transcript(client.http_client, TranscriptRequest(audio_url=upload_url))
        except Exception as exc:
            raise _speech_error(exc) from exc

    @staticmethod
    def _get(client, transcript_id):
        from assemblyai import api

        try:
            return api.get_transcript(client.http_client, transcript_id)
        except Exception as exc:
            raise _speech_error(exc) from exc

    @staticmethod
    def _to_transcript(response):
        words = [
            Word(word=w.text, start=w.start / 1000.0, end=w.end / 1000.0)
            for w in (response.words or [])
            if w.text
        ]
        if response.audio_duration:
            duration = float(response.audio_duration)
        else:
            duration = words[-1].end if words else 0.0
        text = (response.text or "").strip() or " ".join(w.word for w in words)
        return Transcript(text=text, words=words, duration=duration)
