"""Speech to text, offline: faster-whisper (tiny.en, int8) + Silero VAD.

Batch: `LocalBatchTranscriber().transcribe(path)` decodes any format av reads
(at most AUDIO_UPLOAD_MAX_SECONDS of it, counted while decoding) and returns
the text with word timings.

Live: `LocalLiveTranscriber` takes 16 kHz s16le PCM in frames of any size. It
composes two stages: `speech.vad.VadSegmenter` (the Silero VAD: when speech
starts and ends, and the utterance's audio) and `WhisperTranscriber` (that
audio to text). It

- emits `speech_started` when speech begins;
- while speech goes on, re-transcribes the utterance so far about every
  `partial_interval_ms` of audio and emits `partial` (one job at a time per
  stream: a new one is not started while one runs; a partial is skipped, not
  queued, when every STT slot is busy, so finals go first). Partials use a
  shortened encoder window (see `quick_text`), finals the standard one;
- after `endpoint_ms` (600 ms) of silence, emits `pause` at once (the
  end-of-turn model can run while Whisper works), transcribes the stretch with
  word timings and emits `final` (times are stream times), then `endpoint`
  (even when the stretch held no words: a cough ends a wait too);
- after SPEECH_UTTERANCE_END_MS of silence following words, `utterance_end`.

Whisper runs in worker threads (`asyncio.to_thread`), never on the event
loop, and at most LOCAL_STT_CALLS_PER_PROCESS calls run at once per process. An utterance
is capped at `max_utterance_seconds` (one 30 s Whisper window): longer speech
is cut into several finals, at a short dip in the speech when there is one.
"""

import asyncio
import contextlib
import logging

import numpy as np
from django.conf import settings

from speech.audio import NOT_AUDIO, file_to_pcm16k
from speech.providers import local_models
from speech.providers.base import (
    CLOSED,
    ENDPOINT,
    ERROR,
    FINAL,
    PARTIAL,
    PAUSE,
    SAMPLE_RATE,
    SPEECH_STARTED,
    UTTERANCE_END,
    SpeechError,
    SpeechEvent,
    Transcript,
    Word,
)
from speech.vad import LongSilence, SpeechOngoing, SpeechStarted, Utterance, VadSegmenter

log = logging.getLogger(__name__)

_ENGINE_DOWN = "Speech recognition could not start on the server. Please type your answer."


def _words_and_text(segments, offset=0.0, limit=None):
    """Flatten faster-whisper segments into (text, [Word]) with times + offset,
    clamped to [offset, limit]."""
    texts, words = [], []
    for segment in segments:
        piece = segment.text.strip()
        if piece:
            texts.append(piece)
        for w in segment.words or []:
            token = w.word.strip()
            if not token:
                continue
            start = max(0.0, float(w.start)) + offset
            end = max(start, float(w.end) + offset)
            if limit is not None:
                start, end = min(start, limit), min(end, limit)
            words.append(Word(word=token, start=round(start, 3), end=round(end, 3)))
    return " ".join(texts).strip(), words


class Busy(Exception):
    """Every STT slot is taken (only raised when not waiting)."""


def recognise(audio, word_timestamps=True, vad_filter=False, wait=True):
    """Run Whisper on float32 16 kHz mono samples (blocking: call from a
    thread). Holds one of the process's STT slots while it runs; with
    wait=False (partials) raise Busy instead of queueing behind other work, so
    finals and uploads go first when the cores are saturated."""
    model = local_models.get_whisper()
    slots = local_models.stt_slots()
    if not slots.acquire(blocking=wait):
        raise Busy()
    try:
        segments, _info = model.transcribe(
            audio,
            language="en",
            beam_size=1,
            word_timestamps=word_timestamps,
            without_timestamps=not word_timestamps,
            vad_filter=vad_filter,
            condition_on_previous_text=False,
        )
        # The generator does the work: consume it inside the slot.
        return list(segments)
    finally:
        slots.release()


# Partials run Whisper's encoder on a window of at least this many seconds
# instead of the usual 30 s: much cheaper for short utterances, and long
# enough that tiny.en does not start repeating itself (which it does with a
# window of only a second or two). Finals always use the full 30 s window.
PARTIAL_MIN_WINDOW_SECONDS = 10
_MAX_FRAMES = 3000  # 30 s of mel frames: the encoder's positional limit
_quick_broken = False


def quick_text(audio, wait=False):
    """Rough text of float32 16 kHz samples for a partial (blocking: call from
    a thread). Falls back to the standard path if faster-whisper's internals
    ever differ from what this expects."""
    global _quick_broken
    if _quick_broken:
        segments = recognise(audio, word_timestamps=False, wait=wait)
        return " ".join(s.text.strip() for s in segments if s.text.strip())
    import ctranslate2

    model = local_models.get_whisper()
    slots = local_models.stt_slots()
    if not slots.acquire(blocking=wait):
        raise Busy()
    try:
        seconds = len(audio) / SAMPLE_RATE
        window = max(PARTIAL_MIN_WINDOW_SECONDS * SAMPLE_RATE, len(audio) + SAMPLE_RATE)
        padded = np.zeros(min(window, 30 * SAMPLE_RATE), dtype=np.float32)
        padded[: min(len(audio), len(padded))] = audio[: len(padded)]
        features = model.feature_extractor(padded, padding=0)
        frames = min(features.shape[-1] - features.shape[-1] % 2, _MAX_FRAMES)
        features = np.ascontiguousarray(features[None, :, :frames], dtype=np.float32)
        tokenizer = model.hf_tokenizer
        end_of_text = tokenizer.token_to_id("<|endoftext|>")
        prompt = [tokenizer.token_to_id("<|startoftranscript|>"), tokenizer.token_to_id("<|notimestamps|>")]
        result = model.model.generate(
            ctranslate2.StorageView.from_array(features),
            [prompt],
            beam_size=1,
            max_length=int(10 + 6 * seconds),
            return_no_speech_prob=True,
        )[0]
        if result.no_speech_prob > 0.6:
            return ""
        return tokenizer.decode([t for t in result.sequences_ids[0] if t < end_of_text]).strip()
    except Busy:
        raise
    except Exception:
        log.exception("quick partial decoding failed; using the standard path from now on")
        _quick_broken = True
        return ""
    finally:
        slots.release()


class LocalBatchTranscriber:
    def transcribe(self, path) -> Transcript:
        # Decoded frame by frame and counted: a recording that plays longer
        # than the limit fails here, whatever its header claimed.
        try:
            pcm = file_to_pcm16k(path, max_seconds=settings.AUDIO_UPLOAD_MAX_SECONDS)
        except SpeechError:
            raise
        except Exception as exc:  # av raises many kinds for bad input
            raise SpeechError(NOT_AUDIO) from exc
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        audio /= 32768.0
        del pcm
        duration = len(audio) / SAMPLE_RATE
        if not len(audio):
            return Transcript(text="", words=[], duration=0.0)
        try:
            segments = recognise(audio, word_timestamps=True, vad_filter=True)
        except Exception as exc:
            log.exception("local batch transcription failed")
            raise SpeechError("The recording could not be transcribed. Please try again.", retryable=True) from exc
        text, words = _words_and_text(segments, limit=duration)
        return Transcript(text=text, words=words, duration=round(duration, 3))


class WhisperTranscriber:
    """An utterance's audio (s16le) to text with Whisper, in a worker thread,
    never on the event loop, under the process's STT slots (see recognise)."""

    async def final(self, pcm, start_sample):
        """(text, [Word]) of a whole utterance, in stream times; waits for a slot."""
        audio = _floats(pcm)
        offset = start_sample / SAMPLE_RATE
        segments = await asyncio.to_thread(recognise, audio, True)
        return _words_and_text(segments, offset=offset, limit=offset + len(audio) / SAMPLE_RATE)

    async def partial(self, pcm):
        """Rough text of the speech so far; raises Busy rather than wait for a slot."""
        return await asyncio.to_thread(quick_text, _floats(pcm))


def _floats(pcm):
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def _samples(ms):
    return int(SAMPLE_RATE * ms / 1000)


class LocalLiveTranscriber:
    """One per browser stream; see base.py for the interface.

    The composition of a VadSegmenter (when speech starts, pauses, ends) and a
    WhisperTranscriber (what was said); it schedules the partials and keeps
    the finals in stream order."""

    def __init__(self, **options):
        self._segmenter_options = {
            "endpoint_ms": int(options.get("endpoint_ms", getattr(settings, "LOCAL_STT_ENDPOINT_MS", 600))),
            "utterance_end_ms": int(
                options.get("utterance_end_ms", getattr(settings, "SPEECH_UTTERANCE_END_MS", 2000))
            ),
            "max_utterance_seconds": float(options.get("max_utterance_seconds", 30)),
            "threshold": float(options.get("vad_threshold", 0.5)),
        }
        self.partial_interval = _samples(int(options.get("partial_interval_ms", 700)))
        self.first_partial = _samples(int(options.get("first_partial_ms", 400)))
        # Other provider options (language, model...) are not used locally.

        self._segmenter = None  # made in start(), where the VAD model loads
        self._whisper = WhisperTranscriber()
        self._events = asyncio.Queue()
        self._jobs = asyncio.Queue()  # finals, utterance ends and the close, in stream order
        self._state = "new"  # new -> running -> finishing -> closed
        self._closed_emitted = False
        self._worker = None
        self._partial_task = None
        self._last_partial_at = 0  # stream sample of the last partial (or its due point)
        self._finals_pending = 0
        self._heard_words = False  # a non-empty final since the last utterance_end

    @property
    def _buf(self):
        # The audio this stream still holds (tests check it is released).
        return self._segmenter.held() if self._segmenter is not None else b""

    def _emit(self, event):
        if self._closed_emitted:
            return
        if event.type == CLOSED:
            self._closed_emitted = True
        self._events.put_nowait(event)

    # -- interface -------------------------------------------------------

    async def start(self):
        if self._state != "new":
            return
        try:
            await asyncio.to_thread(local_models.get_whisper)
            self._segmenter = VadSegmenter(local_models.StreamingVad(), **self._segmenter_options)
        except Exception as exc:
            log.exception("local speech models failed to load")
            raise SpeechError(_ENGINE_DOWN, retryable=True) from exc
        self._state = "running"
        self._worker = asyncio.create_task(self._work())

    async def send_audio(self, pcm):
        if self._state == "new":
            await self.start()
        if self._state != "running" or not pcm:
            return
        for event in self._segmenter.feed(pcm):
            self._handle(event)

    async def finish(self):
        if self._state == "new":
            self._state = "finishing"
            self._emit(SpeechEvent(CLOSED))
            return
        if self._state != "running":
            return
        self._state = "finishing"
        for event in self._segmenter.flush():
            self._handle(event)
        self._cancel_partial()
        self._jobs.put_nowait(("closed",))

    async def close(self):
        if self._state == "closed":
            return
        self._state = "closed"
        self._cancel_partial()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            with contextlib.suppress(BaseException):
                await self._worker
        self._release()
        self._emit(SpeechEvent(CLOSED))

    async def events(self):
        while True:
            event = await self._events.get()
            yield event
            if event.type == CLOSED:
                return

    # -- segmenter events ------------------------------------------------

    def _handle(self, event):
        match event:
            case SpeechStarted():
                self._last_partial_at = event.at + self.first_partial - self.partial_interval
                self._emit(SpeechEvent(SPEECH_STARTED))
            case SpeechOngoing():
                self._maybe_partial(event)
            case Utterance():
                self._finals_pending += 1
                self._jobs.put_nowait(("final", event.pcm, event.start))
                if event.reason == "pause":
                    # The cut keeps tail_pad of the silence after the speech.
                    at = (event.end - self._segmenter.tail_pad) / SAMPLE_RATE
                    self._emit(SpeechEvent(PAUSE, at=at))
                    self._jobs.put_nowait(("endpoint", at))
                if event.reason == "length":  # the speech goes on as a new utterance
                    self._last_partial_at = event.end + self.first_partial - self.partial_interval
            case LongSilence():
                self._jobs.put_nowait(("utterance_end",))

    def _release(self):
        if self._segmenter is not None:
            self._segmenter.release()

    # -- partials --------------------------------------------------------

    def _maybe_partial(self, ongoing):
        if self._finals_pending:
            return
        if self._partial_task is not None and not self._partial_task.done():
            return  # coalesce: one partial job at a time
        if ongoing.end - self._last_partial_at < self.partial_interval:
            return
        self._last_partial_at = ongoing.end
        pcm = self._segmenter.pcm(ongoing.start, ongoing.end)
        self._partial_task = asyncio.create_task(self._partial(pcm, ongoing.utterance))

    async def _partial(self, pcm, utterance):
        try:
            text = await self._whisper.partial(pcm)
        except asyncio.CancelledError:
            raise
        except Busy:
            # The cores are busy with other work: try again on the next frame.
            self._last_partial_at -= self.partial_interval
            return
        except Exception:
            log.exception("local partial transcription failed")
            return
        if (
            text
            and self._state == "running"
            and self._segmenter.speaking
            and utterance == self._segmenter.utterance
            and not self._finals_pending
        ):
            self._emit(SpeechEvent(PARTIAL, text=text))

    def _cancel_partial(self):
        if self._partial_task is not None and not self._partial_task.done():
            self._partial_task.cancel()

    # -- finals, in order ------------------------------------------------

    async def _work(self):
        try:
            while True:
                job = await self._jobs.get()
                if job[0] == "final":
                    await self._final(job[1], job[2])
                elif job[0] == "endpoint":
                    self._emit(SpeechEvent(ENDPOINT, at=job[1]))
                elif job[0] == "utterance_end":
                    if self._heard_words:
                        self._heard_words = False
                        self._emit(SpeechEvent(UTTERANCE_END))
                elif job[0] == "closed":
                    self._state = "closed"
                    self._release()
                    self._emit(SpeechEvent(CLOSED))
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("local live transcription failed")
            self._state = "closed"
            self._emit(SpeechEvent(ERROR, message="Live transcription stopped unexpectedly. Please type your answer."))
            self._emit(SpeechEvent(CLOSED))

    async def _final(self, pcm, start_sample):
        try:
            text, words = await self._whisper.final(pcm, start_sample)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("local final transcription failed")
            self._emit(SpeechEvent(ERROR, message="Part of your answer could not be transcribed. Please check it."))
            return
        finally:
            self._finals_pending -= 1
        if text:
            self._heard_words = True
            self._emit(SpeechEvent(FINAL, text=text, words=words))
