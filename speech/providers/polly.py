"""The interviewer's voice through Amazon Polly (boto3 SynthesizeSpeech).

    PollySynthesizer().synthesize(text, speed=1.0) -> Audio (MP3, "audio/mpeg")

The text goes out as SSML: a short leading pause (so the first word isn't
clipped by the browser starting playback) and the speed as a prosody rate:

    <speak><break time="150ms"/><prosody rate="110%">ESCAPED TEXT</prosody></speak>

with the text XML-escaped (& < > " ') and stripped of characters XML forbids;
speed is clamped to 0.5–2.0 (50 %–200 %, inside Polly's 20 %–200 %).

One boto3 client per process (and configuration), shared by every thread —
boto3 clients are thread-safe; only building one is not, hence the lock. Its
own retries are off (a single attempt per call, timeouts from SPEECH_TIMEOUT)
because lib.resilience retries: ThrottlingException (HTTP 400), 429 and
5xx answers and network failures are retryable; anything else (bad voice,
text too long, refused credentials) is not.

Synchronous and blocking: run it in a django-q2 worker or a thread.
"""

import logging
import re
import threading
from xml.sax.saxutils import escape

from django.conf import settings

from lib import resilience
from speech.providers.base import Audio, SpeechError

log = logging.getLogger(__name__)

PROVIDER = "polly"
MIN_SPEED, MAX_SPEED = 0.5, 2.0
LEADING_PAUSE = "150ms"

RETRYABLE_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceFailureException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
    "RequestTimeoutException",
}
AUTH_CODES = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "AccessDeniedException",
    "AccessDenied",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
}

MSG_EMPTY = "There is nothing to say."
MSG_BUSY = "The interviewer's voice is busy right now; the text is shown instead."
MSG_DOWN = "The interviewer's voice is unavailable right now; the text is shown instead."
MSG_AUTH = "The interviewer's voice is not configured correctly; the text is shown instead."
MSG_REJECTED = "The interviewer's voice could not read this text; it is shown instead."

# Characters XML 1.0 does not allow (Polly rejects SSML containing them).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_clients = {}
_clients_lock = threading.Lock()
_session = None  # one boto3 Session (it caches the service model); used under _clients_lock


def clamp_speed(speed):
    try:
        speed = float(speed)
    except (TypeError, ValueError):
        return 1.0
    if speed != speed:  # NaN
        return 1.0
    return min(MAX_SPEED, max(MIN_SPEED, speed))


def to_ssml(text, speed=1.0):
    """The SSML Polly receives for `text` spoken at `speed` (1.0 = normal)."""
    clean = _XML_INVALID.sub("", text)
    escaped = escape(clean, {'"': "&quot;", "'": "&apos;"})
    rate = round(clamp_speed(speed) * 100)
    return f'<speak><break time="{LEADING_PAUSE}"/><prosody rate="{rate}%">{escaped}</prosody></speak>'


def _client():
    global _session
    import boto3
    from botocore.config import Config

    timeout = float(settings.SPEECH_TIMEOUT)
    key = (settings.POLLY_REGION, settings.POLLY_ENDPOINT_URL or None, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            config = Config(
                region_name=key[0],
                connect_timeout=timeout,
                read_timeout=timeout,
                # One attempt per call: lib.resilience does the retrying.
                retries={"total_max_attempts": 1, "mode": "standard"},
                max_pool_connections=max(10, int(getattr(settings, "CAP_POLLY", 10) or 10)),
            )
            if _session is None:
                _session = boto3.session.Session()
            client = _session.client("polly", endpoint_url=key[1], config=config)
            _clients[key] = client
        return client


def _speech_error(exc):
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError as BotoConnectionError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(exc, SpeechError):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        log.warning("polly: %s (HTTP %s): %s", code, status, error.get("Message", ""))
        if code in RETRYABLE_CODES or status == 429:
            return SpeechError(MSG_BUSY, retryable=True)
        if status >= 500:
            return SpeechError(MSG_DOWN, retryable=True)
        if code in AUTH_CODES or status in (401, 403):
            return SpeechError(MSG_AUTH, retryable=False)
        return SpeechError(MSG_REJECTED, retryable=False)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        log.warning("polly: no AWS credentials: %s", exc)
        return SpeechError(MSG_AUTH, retryable=False)
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):  # includes timeouts and refused connections
        log.warning("polly: connection failed: %s", exc)
        return SpeechError(MSG_DOWN, retryable=True)
    if isinstance(exc, BotoCoreError):
        log.warning("polly: %s", exc)
        return SpeechError(MSG_DOWN, retryable=False)
    log.exception("polly: unexpected failure")
    return SpeechError(MSG_DOWN, retryable=False)


class PollySynthesizer:
    def synthesize(self, text, speed=1.0) -> Audio:
        if not text or not text.strip():
            raise SpeechError(MSG_EMPTY, retryable=False)
        ssml = to_ssml(text.strip(), speed)
        client = _client()
        try:
            return resilience.call_with_retries(lambda: self._call(client, ssml), provider=PROVIDER)
        except resilience.CircuitOpen as exc:
            raise SpeechError(str(exc), retryable=False) from exc

    @staticmethod
    def _call(client, ssml):
        try:
            response = client.synthesize_speech(
                Engine=settings.POLLY_ENGINE,
                VoiceId=settings.POLLY_VOICE,
                OutputFormat="mp3",
                TextType="ssml",
                Text=ssml,
            )
            with response["AudioStream"] as stream:
                data = stream.read()
        except Exception as exc:
            raise _speech_error(exc) from exc
        if not data:
            raise SpeechError(MSG_DOWN, retryable=True)
        return Audio(data=data, content_type="audio/mpeg", duration=mp3_duration(data))


# ----- MP3 duration from frame headers (Polly sends constant-bitrate MPEG audio) -----

_BITRATES = {  # kbps by (MPEG-1?, layer) and index
    (True, 1): [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    (True, 2): [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    (True, 3): [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    (False, 1): [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    (False, 2): [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    (False, 3): [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
}
_SAMPLE_RATES = {3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000]}


def mp3_duration(data):
    """Seconds of audio in an MP3 byte string (sum of its frames); 0.0 if unparseable."""
    pos, total, n = 0, 0.0, len(data)
    if data[:3] == b"ID3" and n >= 10:  # skip an ID3v2 tag
        pos = 10 + ((data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F))
    while pos + 4 <= n:
        b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
        if data[pos] != 0xFF or (b1 & 0xE0) != 0xE0:
            pos += 1  # resynchronise
            continue
        version, layer_bits = (b1 >> 3) & 0x3, (b1 >> 1) & 0x3
        bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 0x3, (b2 >> 1) & 0x1
        if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
            pos += 1
            continue
        mpeg1, layer = version == 3, 4 - layer_bits
        bitrate = _BITRATES[(mpeg1, layer)][bitrate_index] * 1000
        sample_rate = _SAMPLE_RATES[version][rate_index]
        if layer == 1:
            samples, length = 384, (12 * bitrate // sample_rate + padding) * 4
        else:
            samples = 1152 if (layer == 2 or mpeg1) else 576
            length = samples // 8 * bitrate // sample_rate + padding
        if length <= 0:
            break
        total += samples / sample_rate
        pos += length
    return round(total, 3)
