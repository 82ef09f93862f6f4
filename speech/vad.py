"""The VAD segmenter: a live PCM stream in, speech events out.

`VadSegmenter.feed(pcm)` takes 16 kHz s16le PCM in frames of any size and
returns what the frame completed, in stream order:

- `SpeechStarted` when the speech probability crosses the threshold;
- `SpeechOngoing` at the end of every frame that leaves speech going on (its
  audio so far is `segmenter.pcm(event.start, event.end)`, read before the next
  feed: copying it for every frame would cost more than the partials it feeds);
- `Utterance` with the audio of a stretch of speech, once `endpoint_ms` of
  silence ended it (reason "pause"), once it reached `max_utterance_seconds`
  (reason "length": cut at a short dip past halfway if there is one, and the
  speech goes on as the next utterance), or at `flush()` (reason "end");
- `LongSilence` once `utterance_end_ms` of silence follows an utterance.

It is pure and synchronous: no Whisper, no event loop, no settings. The speech
probabilities come from `vad`, anything with a `window` (samples per
probability) and `feed(float32 samples) -> [probability per whole window]`:
`speech.providers.local_models.StreamingVad` in production, a fake in tests.
Times are stream sample indexes (samples received since the start).
"""

from dataclasses import dataclass

import numpy as np

from speech.providers.base import SAMPLE_RATE


@dataclass(frozen=True)
class SpeechStarted:
    utterance: int  # numbered from 1, per stream
    at: int  # the start of the window that crossed the threshold


@dataclass(frozen=True)
class SpeechOngoing:
    utterance: int
    start: int  # the utterance's first sample (with the pre-roll)
    end: int  # samples received so far


@dataclass(frozen=True)
class Utterance:
    utterance: int
    start: int
    end: int
    pcm: bytes  # s16le, stream samples start..end
    reason: str  # "pause", "length" or "end"


@dataclass(frozen=True)
class LongSilence:
    pass


class VadSegmenter:
    def __init__(
        self,
        vad,
        endpoint_ms=600,
        utterance_end_ms=2000,
        max_utterance_seconds=30,
        threshold=0.5,
        pre_roll_ms=300,
        tail_pad_ms=300,
    ):
        self.vad = vad
        self.endpoint = _samples(endpoint_ms)
        self.utterance_end = _samples(utterance_end_ms)
        self.max_samples = int(max_utterance_seconds * SAMPLE_RATE)
        self._half = int(max_utterance_seconds * SAMPLE_RATE / 2)
        self.threshold = threshold
        # Hysteresis: a dip must go clearly below the threshold to count as silence.
        self.neg_threshold = max(0.01, threshold - 0.15)
        self.pre_roll = _samples(pre_roll_ms)
        self.tail_pad = _samples(tail_pad_ms)

        self._odd = b""  # half a sample left over from the last frame
        self._buf = bytearray()  # s16le audio from stream sample _buf_start to _total
        self._buf_start = 0
        self._total = 0  # samples received (the stream clock)
        self._vad_pos = 0  # samples the VAD has judged

        self.speaking = False
        self.utterance = 0  # the current (or last) utterance's number
        self._utt_start = 0
        self._silence_from = None  # where the current pause inside speech began
        self._last_dip = None  # latest low-probability window in the utterance
        self._last_speech_end = 0
        self._await_long_silence = False

    def held(self):
        """The audio still held in memory."""
        return bytes(self._buf)

    def pcm(self, start, end):
        """The audio received between two stream samples, as far as it is still held."""
        start = max(start, self._buf_start)
        end = min(end, self._total)
        if end <= start:
            return b""
        return bytes(self._buf[(start - self._buf_start) * 2 : (end - self._buf_start) * 2])

    def feed(self, pcm):
        data = self._odd + bytes(pcm)
        cut = len(data) - len(data) % 2
        self._odd = data[cut:]
        if not cut:
            return []
        data = data[:cut]
        self._buf.extend(data)
        self._total += cut // 2
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        events = []
        for prob in self.vad.feed(samples):
            start = self._vad_pos
            self._vad_pos += self.vad.window
            self._judge(prob, start, self._vad_pos, events)
        if self.speaking:
            events.append(SpeechOngoing(self.utterance, self._utt_start, self._total))
        self._trim()
        return events

    def flush(self):
        """The end of the stream: the speech in progress, if any, as a last Utterance."""
        events = []
        if self.speaking:
            end = self._total
            if self._silence_from is not None:
                end = min(end, self._silence_from + self.tail_pad)
            self._cut(end, "end", events)
            self.speaking = False
        return events

    def release(self):
        self._buf = bytearray()
        self._buf_start = self._total

    def _judge(self, prob, start, end, events):
        if not self.speaking:
            if prob >= self.threshold:
                self.speaking = True
                self.utterance += 1
                self._utt_start = max(self._buf_start, start - self.pre_roll)
                self._silence_from = None
                self._last_dip = None
                events.append(SpeechStarted(self.utterance, start))
            elif self._await_long_silence and end - self._last_speech_end >= self.utterance_end:
                self._await_long_silence = False
                events.append(LongSilence())
            return
        if prob >= self.threshold:
            self._silence_from = None
        elif prob < self.neg_threshold:
            self._last_dip = start
            if self._silence_from is None:
                self._silence_from = start
        if self._silence_from is not None and end - self._silence_from >= self.endpoint:
            self._cut(min(end, self._silence_from + self.tail_pad), "pause", events)
            self.speaking = False
            self._last_speech_end = self._silence_from
            self._await_long_silence = True
            return
        if end - self._utt_start >= self.max_samples:
            # Too long without a pause: cut, at the latest dip past halfway if any.
            half = self._utt_start + self._half
            cut = self._last_dip if self._last_dip is not None and self._last_dip > half else end
            self._cut(cut, "length", events)
            self.utterance += 1
            self._utt_start = cut
            self._last_dip = None

    def _cut(self, end, reason, events):
        pcm = self.pcm(self._utt_start, end)
        if pcm:
            events.append(Utterance(self.utterance, self._utt_start, end, pcm, reason))

    def _trim(self):
        # Keep the utterance in progress, or the pre-roll of the next one.
        keep_from = self._utt_start if self.speaking else self._vad_pos - self.pre_roll
        drop = keep_from - self._buf_start
        if drop > 0:
            del self._buf[: drop * 2]
            self._buf_start = keep_from


def _samples(ms):
    return int(SAMPLE_RATE * ms / 1000)
