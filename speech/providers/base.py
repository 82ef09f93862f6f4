"""What every speech provider offers. Providers never touch the database.

Live transcription (one object per browser stream, never shared):

    t = get_live_transcriber()
    await t.start()                      # connect / load; raises SpeechError
    await t.send_audio(pcm)              # 16-bit little-endian mono PCM at 16 kHz
    await t.finish()                     # flush: remaining finals, then a "closed" event
    await t.close()                      # abort now (idempotent)
    async for event in t.events(): ...   # SpeechEvent objects until "closed"

Batch transcription and synthesis are synchronous (they run in django-q2
workers or threads):

    get_batch_transcriber().transcribe(path) -> Transcript
    get_synthesizer().synthesize(text, speed=1.0) -> Audio
"""

from dataclasses import dataclass, field

SAMPLE_RATE = 16_000

# Event types a live transcriber emits.
PARTIAL = "partial"  # text so far of the current utterance (replaces the previous partial)
FINAL = "final"  # settled text of a stretch of speech, with word timings
SPEECH_STARTED = "speech_started"
UTTERANCE_END = "utterance_end"  # the provider heard the end of an utterance (a pause)
# For the end-of-turn decision (interviews.microphone; not relayed to the page).
# `at` is where the speech ended, in seconds of the stream.
PAUSE = "pause"  # the speaker paused; the finals for the speech before it may still come
ENDPOINT = "endpoint"  # the speaker paused and every final for the speech before it is out
ERROR = "error"
CLOSED = "closed"


@dataclass(frozen=True)
class Word:
    word: str
    start: float  # seconds from the start of the stream/file
    end: float


@dataclass
class SpeechEvent:
    type: str
    text: str = ""
    words: list = field(default_factory=list)  # list[Word], for FINAL
    message: str = ""  # for ERROR: safe to show the candidate
    at: float = 0.0  # for PAUSE and ENDPOINT: the end of the speech, stream seconds


@dataclass
class Transcript:
    text: str
    words: list = field(default_factory=list)  # list[Word]
    duration: float = 0.0  # seconds of audio


@dataclass
class Audio:
    data: bytes
    content_type: str  # "audio/wav" or "audio/mpeg"
    duration: float = 0.0


class SpeechError(Exception):
    """A provider failed; the message is safe to show the candidate."""

    def __init__(self, message, retryable=False):
        super().__init__(message)
        self.retryable = retryable
