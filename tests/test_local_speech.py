"""The offline speech engines: faster-whisper (batch and live, Silero VAD),
piper TTS, and the upload/audio helpers. Test audio is made with piper."""

import asyncio
import io
import re
import time
import wave

import numpy as np
import pytest

from speech import audio as audio_helpers
from speech.providers import local_models
from speech.providers.base import CLOSED, FINAL, PARTIAL, SPEECH_STARTED, UTTERANCE_END, SpeechError
from speech.providers.local_stt import LocalBatchTranscriber, LocalLiveTranscriber
from speech.providers.local_tts import LocalSynthesizer
from tests.speech_samples import BYTES_PER_SECOND, TRANSCODE, frames, say, silence, transcode, wav_file

SENTENCE = "I led the migration of our billing system to Kubernetes and cut costs by thirty percent."
FIRST_HALF = "I have five years of experience with Python."
SECOND_HALF = "Mostly building data pipelines and web services."

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(match):
    n = int(match.group())
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return match.group()


def normalise(text):
    text = text.lower().replace("%", " percent")
    text = re.sub(r"\d+", _number_words, text)
    return re.sub(r"[^a-z' ]+", " ", text).split()


def wer(reference, hypothesis):
    """Word error rate: word-level edit distance / reference length."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / max(1, len(ref))


def test_it_computes_word_error_rate():
    assert wer("cut costs by thirty percent", "Cut costs by 30%.") == 0
    assert wer("a b c d", "a x c") == 0.5


# -- batch -------------------------------------------------------------------


def test_it_transcribes_a_known_sentence_with_low_word_error(tmp_path):
    path = wav_file(tmp_path, SENTENCE)
    LocalBatchTranscriber().transcribe(path)  # warm up (model load)
    started = time.perf_counter()
    transcript = LocalBatchTranscriber().transcribe(path)
    elapsed = time.perf_counter() - started
    assert wer(SENTENCE, transcript.text) <= 0.15, transcript.text
    assert transcript.duration == pytest.approx(len(say(SENTENCE)) / BYTES_PER_SECOND + 0.8, abs=0.05)
    assert elapsed < 10  # ≈0.5-1 s on 2 cores


def test_it_gives_word_timings_in_order_within_the_duration(tmp_path):
    transcript = LocalBatchTranscriber().transcribe(wav_file(tmp_path, SENTENCE))
    words = transcript.words
    assert len(words) >= 10
    assert all(w.word.strip() for w in words)
    for before, after in zip(words, words[1:]):
        assert before.start <= after.start
        assert before.end <= after.end
    for w in words:
        assert 0 <= w.start <= w.end <= transcript.duration


@pytest.mark.parametrize("fmt", ["webm", "m4a"])  # Chrome/Firefox and Safari recordings
def test_it_transcribes_compressed_formats(tmp_path, fmt):
    path = transcode(wav_file(tmp_path, SENTENCE), fmt)
    transcript = LocalBatchTranscriber().transcribe(path)
    assert wer(SENTENCE, transcript.text) <= 0.2, transcript.text


def test_it_refuses_undecodable_audio_with_a_clear_message(tmp_path):
    path = tmp_path / "answer.webm"
    path.write_text("this is not audio\n" * 50)
    with pytest.raises(SpeechError, match="not audio we can read"):
        LocalBatchTranscriber().transcribe(path)


# -- live --------------------------------------------------------------------


class Recorder:
    """Collects a live transcriber's events with their arrival times."""

    def __init__(self, transcriber):
        self.transcriber = transcriber
        self.events = []
        self.t0 = time.monotonic()
        self.task = asyncio.create_task(self._pump())

    async def _pump(self):
        async for event in self.transcriber.events():
            self.events.append((time.monotonic() - self.t0, event))

    def of(self, kind):
        return [e for _, e in self.events if e.type == kind]

    def types(self):
        return [e.type for _, e in self.events]

    async def done(self, timeout=30):
        await asyncio.wait_for(self.task, timeout)


# For tests that feed audio faster than real time and do not look at partials.
NO_PARTIALS = {"partial_interval_ms": 10**9}


async def _started(**options):
    transcriber = LocalLiveTranscriber(**options)
    await transcriber.start()
    return transcriber, Recorder(transcriber)


async def test_it_streams_partials_while_speaking_then_a_final_and_utterance_end():
    speech = say(SENTENCE)
    transcriber, rec = await _started()
    lags = []
    # 0.3 s lead-in, the sentence, then 2.5 s of silence, in 100 ms frames in real time.
    sent_speech_at = None
    for i, frame in enumerate(frames(silence(0.3) + speech + silence(2.5), 3200)):
        if i * 3200 >= int(0.3 * BYTES_PER_SECOND) + len(speech) and sent_speech_at is None:
            sent_speech_at = time.monotonic() - rec.t0  # the last frame holding speech is sent
        await transcriber.send_audio(frame)
        before = time.monotonic()
        await asyncio.sleep(0.1)
        lags.append(time.monotonic() - before - 0.1)
    await transcriber.finish()
    await rec.done()

    types = rec.types()
    assert types[0] == SPEECH_STARTED
    partial_times = [t for t, e in rec.events if e.type == PARTIAL]
    assert partial_times and partial_times[0] < sent_speech_at, "a partial must arrive while speech is still flowing"
    speech_started_at = next(t for t, e in rec.events if e.type == SPEECH_STARTED)
    # At least one partial a second while speaking.
    gaps = np.diff([speech_started_at, *[t for t in partial_times if t < sent_speech_at]])
    assert max(gaps) < 1.5, gaps
    finals = rec.of(FINAL)
    assert len(finals) == 1
    assert wer(SENTENCE, finals[0].text) <= 0.15, finals[0].text
    assert types.index(FINAL) < types.index(UTTERANCE_END) < types.index(CLOSED) == len(types) - 1
    assert PARTIAL not in types[types.index(FINAL) :], "no stale partial after the final"
    # Word times are stream times: the speech starts after the 0.3 s lead-in.
    words = finals[0].words
    assert 0.0 <= words[0].start < 1.0
    assert words[-1].end <= 0.3 + len(speech) / BYTES_PER_SECOND + 0.5
    # Whisper ran off the event loop: sleeps were never held up by a transcription.
    assert max(lags) < 0.3, max(lags)
    print(
        f"partial latency: first {partial_times[0] - speech_started_at:.2f}s after speech_started, "
        f"gaps {np.round(gaps, 2).tolist()}; final {next(t for t, e in rec.events if e.type == FINAL) - sent_speech_at:.2f}s "
        f"after the last speech frame; max loop lag {max(lags) * 1000:.0f} ms"
    )


async def test_it_splits_a_thinking_pause_into_two_finals_without_losing_words():
    audio = silence(0.3) + say(FIRST_HALF) + silence(1.2) + say(SECOND_HALF) + silence(0.9)
    transcriber, rec = await _started(**NO_PARTIALS)
    for frame in frames(audio, 3200):
        await transcriber.send_audio(frame)
        await asyncio.sleep(0)  # faster than real time: the VAD runs on stream time
    await transcriber.finish()
    await rec.done()
    finals = rec.of(FINAL)
    assert len(finals) == 2, [f.text for f in finals]
    assert wer(f"{FIRST_HALF} {SECOND_HALF}", " ".join(f.text for f in finals)) <= 0.15
    assert finals[0].words[-1].end <= finals[1].words[0].start
    first_len = 0.3 + len(say(FIRST_HALF)) / BYTES_PER_SECOND
    assert finals[1].words[0].start >= first_len + 0.6  # offset to stream time
    assert UTTERANCE_END not in rec.types()  # 1.2 s is a pause, not the end of the answer


async def test_it_emits_no_final_for_silence_or_faint_noise():
    rng = np.random.default_rng(1)
    noise = (rng.normal(0, 60, 16_000 * 2)).astype("<i2").tobytes()  # about -55 dBFS
    transcriber, rec = await _started(**NO_PARTIALS)
    for frame in frames(silence(2) + noise + silence(1), 3200):
        await transcriber.send_audio(frame)
    await transcriber.finish()
    await rec.done()
    assert rec.types() == [CLOSED]


async def test_it_flushes_speech_without_trailing_silence_on_finish():
    transcriber, rec = await _started(**NO_PARTIALS)
    for frame in frames(silence(0.3) + say(FIRST_HALF), 3200):
        await transcriber.send_audio(frame)
    assert FINAL not in rec.types()
    await transcriber.finish()
    await rec.done()
    types = rec.types()
    assert types[-1] == CLOSED
    finals = rec.of(FINAL)
    assert len(finals) == 1 and wer(FIRST_HALF, finals[0].text) <= 0.15, finals
    assert types.index(FINAL) < types.index(CLOSED)


async def test_it_accepts_odd_frame_sizes():
    transcriber, rec = await _started(**NO_PARTIALS)
    audio = silence(0.3) + say(FIRST_HALF) + silence(0.8)
    for frame in frames(audio, 333):  # not a whole number of samples
        await transcriber.send_audio(frame)
    await transcriber.send_audio(b"")
    await transcriber.finish()
    await rec.done()
    finals = rec.of(FINAL)
    assert len(finals) == 1 and wer(FIRST_HALF, finals[0].text) <= 0.15, finals


async def test_it_splits_speech_longer_than_the_utterance_cap():
    transcriber, rec = await _started(max_utterance_seconds=3, **NO_PARTIALS)
    speech = say(SENTENCE)
    assert len(speech) / BYTES_PER_SECOND > 4
    for frame in frames(silence(0.2) + speech + silence(0.8), 3200):
        await transcriber.send_audio(frame)
    await transcriber.finish()
    await rec.done()
    finals = rec.of(FINAL)
    assert len(finals) >= 2
    assert wer(SENTENCE, " ".join(f.text for f in finals)) <= 0.3
    assert len(transcriber._buf) == 0  # buffers released when closed


async def test_it_keeps_concurrent_streams_apart():
    texts = [FIRST_HALF, SECOND_HALF, SENTENCE]
    streams = [await _started(**NO_PARTIALS) for _ in texts]

    async def feed(transcriber, text):
        for frame in frames(silence(0.2) + say(text) + silence(0.8), 3200):
            await transcriber.send_audio(frame)
            await asyncio.sleep(0)
        await transcriber.finish()

    await asyncio.gather(*(feed(t, text) for (t, _), text in zip(streams, texts)))
    for (_, rec), text in zip(streams, texts):
        await rec.done()
        finals = rec.of(FINAL)
        assert len(finals) == 1 and wer(text, finals[0].text) <= 0.15, (text, finals)


async def test_it_aborts_on_close():
    transcriber, rec = await _started()
    for frame in frames(silence(0.2) + say(FIRST_HALF), 3200):
        await transcriber.send_audio(frame)
    await transcriber.close()
    await transcriber.close()  # idempotent
    await transcriber.send_audio(say(FIRST_HALF))  # ignored
    await rec.done()
    assert rec.types()[-1] == CLOSED
    assert FINAL not in rec.types()


# -- TTS ---------------------------------------------------------------------


def _wav_info(data):
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getnframes() / wav.getframerate()


def test_it_speaks_a_valid_wav():
    synth = LocalSynthesizer()
    synth.synthesize("Warm up.")
    started = time.perf_counter()
    audio = synth.synthesize(SENTENCE)
    elapsed = time.perf_counter() - started
    rate, channels, width, seconds = _wav_info(audio.data)
    assert (rate, channels, width) == (local_models.get_voice().config.sample_rate, 1, 2) == (22_050, 1, 2)
    assert audio.content_type == "audio/wav"
    assert audio.duration == pytest.approx(seconds, abs=0.01)
    assert 3 < seconds < 9  # 15 words
    assert elapsed < 10


def test_it_speaks_faster_at_higher_speed():
    synth = LocalSynthesizer()
    slow = synth.synthesize(FIRST_HALF, speed=0.75).duration
    fast = synth.synthesize(FIRST_HALF, speed=1.5).duration
    assert fast < slow * 0.7


@pytest.mark.parametrize("text", ["", "   \n\t", None])
def test_it_refuses_empty_text(text):
    with pytest.raises(SpeechError, match="no text"):
        LocalSynthesizer().synthesize(text)


# -- upload checks and audio helpers -------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", *sorted(TRANSCODE)])
def test_it_accepts_each_allowed_upload_format(tmp_path, fmt):
    path = wav_file(tmp_path, FIRST_HALF)
    if fmt != "wav":
        path = transcode(path, fmt)
    info = audio_helpers.validate_upload(path, max_seconds=60)
    assert info["format"] == fmt
    assert info["duration"] == pytest.approx(0.8 + len(say(FIRST_HALF)) / BYTES_PER_SECOND, abs=0.15)
    assert info["codec"]


def test_it_checks_uploads_by_content_not_name(tmp_path):
    png = tmp_path / "answer.wav"
    png.write_bytes(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
            "0000000d4944415478da63f8cfc0f01f0005000201a1d6e0b30000000049454e44ae426082"
        )
    )
    with pytest.raises(SpeechError, match="not audio we can read"):
        audio_helpers.validate_upload(png, max_seconds=60)
    text = tmp_path / "notes.wav"
    text.write_text("My answer, typed out.\n" * 100)
    with pytest.raises(SpeechError, match="not audio we can read"):
        audio_helpers.validate_upload(text, max_seconds=60)
    # An audio file named .txt is judged by its content, and so accepted.
    renamed = tmp_path / "answer.txt"
    renamed.write_bytes(wav_file(tmp_path, FIRST_HALF).read_bytes())
    assert audio_helpers.validate_upload(renamed, max_seconds=60)["format"] == "wav"


def test_it_rejects_an_unsupported_audio_format(tmp_path):
    import av

    path = tmp_path / "answer.flac"
    with av.open(str(path), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=16_000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16_000), dtype=np.int16), format="s16", layout="mono")
        frame.sample_rate = 16_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    with pytest.raises(SpeechError, match="format isn't supported.*WAV, WebM/Opus, OGG, MP3, M4A"):
        audio_helpers.validate_upload(path, max_seconds=60)


def test_it_rejects_a_too_long_upload(tmp_path):
    path = tmp_path / "long.wav"
    path.write_bytes(audio_helpers.pcm_to_wav(silence(3) + say(FIRST_HALF), 16_000))
    with pytest.raises(SpeechError, match=r"is \d+ s long; the limit is 5 s"):
        audio_helpers.validate_upload(path, max_seconds=5)
    long_webm = transcode(path, "webm")
    with pytest.raises(SpeechError, match="the limit is 5 s"):
        audio_helpers.validate_upload(long_webm, max_seconds=5)


def test_it_wraps_and_resamples_pcm(tmp_path):
    tone = (np.sin(np.arange(22_050) * 2 * np.pi * 440 / 22_050) * 10_000).astype("<i2").tobytes()
    wav = audio_helpers.pcm_to_wav(tone, 22_050)
    assert _wav_info(wav) == (22_050, 1, 2, 1.0)
    pcm16k = audio_helpers.wav_to_pcm16k(wav)
    assert abs(len(pcm16k) - BYTES_PER_SECOND) <= 64
    samples = np.frombuffer(pcm16k, "<i2")
    assert 8_000 < np.abs(samples).max() < 11_000
    path = tmp_path / "tone.bin"
    path.write_bytes(wav)
    info = audio_helpers.probe(path)
    assert info["format"] == "wav" and info["codec"] == "pcm_s16le" and info["duration"] == pytest.approx(1.0)
    with pytest.raises(SpeechError, match="not audio"):
        audio_helpers.wav_to_pcm16k(b"RIFF nonsense")


# -- models ------------------------------------------------------------------


def test_it_loads_the_models_once():
    assert local_models.get_whisper() is local_models.get_whisper()
    assert local_models.get_voice() is local_models.get_voice()
    assert local_models.get_vad_session() is local_models.get_vad_session()
    assert local_models.stt_slots() is local_models.stt_slots()


def test_it_gives_rough_partial_text_quickly():
    from speech.providers.local_stt import quick_text

    audio = np.frombuffer(silence(0.3) + say(FIRST_HALF), "<i2").astype(np.float32) / 32768
    assert wer(FIRST_HALF, quick_text(audio, wait=True)) <= 0.2
    assert quick_text(np.zeros(16_000, dtype=np.float32), wait=True) in ("", "you")  # no speech


def test_it_skips_a_partial_rather_than_queue_when_every_stt_slot_is_busy():
    from speech.providers.local_stt import Busy, quick_text, recognise

    slots = local_models.stt_slots()
    taken = 0
    while slots.acquire(blocking=False):
        taken += 1
    try:
        assert taken >= 1
        with pytest.raises(Busy):
            recognise(np.zeros(16_000, dtype=np.float32), word_timestamps=False, wait=False)
        with pytest.raises(Busy):
            quick_text(np.zeros(16_000, dtype=np.float32), wait=False)
    finally:
        for _ in range(taken):
            slots.release()


def test_it_loads_a_model_once_under_concurrent_first_use(monkeypatch):
    import threading

    calls = []

    class FakeModel:
        def __init__(self, *args, **kwargs):
            calls.append(1)
            time.sleep(0.05)

    monkeypatch.setattr(local_models, "_whisper", None)
    monkeypatch.setattr("faster_whisper.WhisperModel", FakeModel)
    results = []
    threads = [threading.Thread(target=lambda: results.append(local_models.get_whisper())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(r is results[0] for r in results)
