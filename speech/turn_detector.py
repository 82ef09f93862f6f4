"""Has the speaker finished? smart-turn v3.2 on the last seconds of a stream.

    audio = RecentAudio()                 # one per stream: the last 8 s it received
    audio.append(pcm)                     # 16 kHz mono s16le, frames of any size
    pcm = audio.until(end_sample)         # the last <= 8 s up to a stream sample
    p = probability(pcm)                  # blocking (call from a thread): 0..1, finished

smart-turn (github.com/pipecat-ai/smart-turn) is a Whisper-encoder classifier
trained on the prosody of the end of a turn. Its input is the Whisper log-mel
of exactly 8 s of 16 kHz audio, the speech right-aligned (zeros before it),
the waveform first normalised to zero mean and unit variance; its output one
probability. pipecat-ai ships the model file, and its
`LocalSmartTurnAnalyzerV3` feeds it that way.

We load the ONNX file ourselves (speech.providers.local_models) and compute
the features with faster-whisper's FeatureExtractor rather than use the
analyser: importing pipecat logs a banner and patches asyncio.wait_for for the
whole process, and the analyser buffers audio and tracks silence itself, which
our VAD and the transcribers already do. The features equal pipecat's (its
`_whisper_features.py`; tests/test_turn_taking.py compares them).

The model wants some of the silence after the speech: with only 0.2 s it
calls short finished answers ("Yes, I have.") unfinished, with about 0.8 s it
reads them right (bench/RESULTS.md, voice turn-taking). `TRAILING_SILENCE` is
what callers add after the end of speech; waiting for it costs nothing, as
Whisper's final of the same utterance takes longer.
"""

import threading

import numpy as np

from speech.providers import local_models
from speech.providers.base import SAMPLE_RATE

MODEL_SECONDS = 8
MODEL_SAMPLES = MODEL_SECONDS * SAMPLE_RATE
TRAILING_SILENCE = 0.8  # seconds of the pause the model is given

_extractor = None
_extractor_lock = threading.Lock()
# One decision at a time per process: each is short, and the cores are shared
# with Whisper; a queue here is cheaper than two models fighting for a core.
_run_lock = threading.Lock()


def _features_extractor():
    global _extractor
    if _extractor is None:
        with _extractor_lock:
            if _extractor is None:
                from faster_whisper.feature_extractor import FeatureExtractor

                _extractor = FeatureExtractor(chunk_length=MODEL_SECONDS)
    return _extractor


def features(samples):
    """The model's input (1, 80, 800) for float32 16 kHz samples: the last 8 s,
    right-aligned, normalised, Whisper log-mel."""
    audio = np.asarray(samples, dtype=np.float32)[-MODEL_SAMPLES:]
    audio = np.pad(audio, (MODEL_SAMPLES - len(audio), 0))
    audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    mel = _features_extractor()(audio, padding=0)[:, : MODEL_SAMPLES // 160]
    return np.ascontiguousarray(mel[None], dtype=np.float32)


def probability(pcm):
    """The probability that the speaker has finished, from 16 kHz s16le PCM
    ending just after the speech (blocking: call from a thread)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    session = local_models.get_smart_turn()
    inputs = {"input_features": features(samples)}
    with _run_lock:
        output = session.run(None, inputs)[0]
    return float(np.asarray(output).reshape(-1)[0])


def load():
    """Load the model and run it once (the first run is slower)."""
    probability(bytes(3200))


class RecentAudio:
    """The last `seconds` of a stream's PCM in a fixed ring (no per-frame
    copying of the whole buffer); positions are stream samples."""

    def __init__(self, seconds=MODEL_SECONDS):
        self.size = int(seconds * SAMPLE_RATE)
        self.ring = np.zeros(self.size, dtype="<i2")
        self.total = 0  # samples received

    def append(self, pcm):
        samples = np.frombuffer(pcm, dtype="<i2")
        received = len(samples)
        samples = samples[-self.size :]
        start = (self.total + received - len(samples)) % self.size
        first = min(len(samples), self.size - start)
        self.ring[start : start + first] = samples[:first]
        self.ring[: len(samples) - first] = samples[first:]
        self.total += received

    def until(self, end):
        """s16le PCM of the held samples before stream sample `end`."""
        end = max(0, min(int(end), self.total))
        start = max(0, end - self.size, self.total - self.size)
        if end <= start:
            return b""
        indexes = np.arange(start, end) % self.size
        return self.ring[indexes].tobytes()

    @property
    def seconds(self):
        return self.total / SAMPLE_RATE
