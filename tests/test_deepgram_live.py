"""DeepgramLiveTranscriber with the real deepgram-sdk against a fake Deepgram server on 127.0.0.1."""

import asyncio
import socket
import time

import pytest

from lib import resilience
from speech.providers import deepgram as dg
from speech.providers import get_live_transcriber
from speech.providers.base import (
    CLOSED,
    ENDPOINT,
    ERROR,
    FINAL,
    PARTIAL,
    SPEECH_STARTED,
    UTTERANCE_END,
    SpeechError,
    Word,
)
from tests.fakes.deepgram import error, fake_deepgram, results, speech_started, utterance_end  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore:websockets.exceptions.InvalidStatusCode is deprecated")

FRAME = b"\x01\x00" * 1600  # 100 ms of 16 kHz 16-bit mono


@pytest.fixture(autouse=True)
def fast(settings, monkeypatch):
    settings.SPEECH_LIVE_STT = "deepgram"
    settings.SPEECH_TIMEOUT = 3
    settings.SPEECH_RETRIES = 3
    settings.DEEPGRAM_ENDPOINTING_MS = 400
    settings.SPEECH_UTTERANCE_END_MS = 1500
    monkeypatch.setattr(resilience, "BACKOFF_BASE_SECONDS", 0.01)
    resilience.reset_breakers()
    yield
    resilience.reset_breakers()


async def collect(transcriber, until=CLOSED, timeout=5.0):
    """Events until one of type `until` (inclusive)."""
    got = []

    async def run():
        async for event in transcriber.events():
            got.append(event)
            if event.type == until:
                return

    await asyncio.wait_for(run(), timeout)
    return got


_open = []


@pytest.fixture(autouse=True)
async def close_leftovers():
    """Close what a failing test left open, so the fake server isn't kept waiting."""
    yield
    while _open:
        await _open.pop().close()


async def started(fake):
    """A started transcriber, once the fake has recorded its connection."""
    before = len(fake.connections)
    t = get_live_transcriber()
    assert isinstance(t, dg.DeepgramLiveTranscriber)
    _open.append(t)
    await t.start()
    assert await fake.await_until(lambda: len(fake.connections) > before)
    return t


async def test_it_connects_with_the_streaming_parameters_and_key(fake_deepgram, settings):
    t = await started(fake_deepgram)
    try:
        conn = await fake_deepgram.await_until(lambda: fake_deepgram.last)
        assert conn.path == "/v1/listen"
        assert conn.headers["Authorization"] == f"Token {fake_deepgram.api_key}"
        q = conn.query
        assert q["model"] == settings.DEEPGRAM_MODEL
        assert q["encoding"] == "linear16"
        assert q["sample_rate"] == "16000"
        assert q["channels"] == "1"
        assert q["interim_results"] == "true"
        assert q["endpointing"] == "400"
        assert q["utterance_end_ms"] == "1500"
        assert q["vad_events"] == "true"
        assert q["smart_format"] == "true"
    finally:
        await t.close()
    assert [e.type for e in await collect(t)] == [CLOSED]


async def test_it_forwards_the_audio_bytes_unchanged(fake_deepgram):
    t = await started(fake_deepgram)
    pcm = bytes(range(256)) * 25
    for _ in range(3):
        await t.send_audio(pcm)
    assert await fake_deepgram.await_until(lambda: len(fake_deepgram.last.audio) == 3 * len(pcm))
    assert bytes(fake_deepgram.last.audio) == pcm * 3
    await t.close()


async def test_it_maps_partials_finals_and_utterance_end_with_word_timings(fake_deepgram):
    fake_deepgram.after_bytes(len(FRAME), speech_started(0.05), results("I led", start=0.1, is_final=False))
    fake_deepgram.after_bytes(2 * len(FRAME), results("I led the", start=0.1, is_final=False))
    fake_deepgram.after_bytes(
        3 * len(FRAME),
        results(
            "I led the migration.",
            is_final=True,
            speech_final=False,
            words=[("i", 0.1, 0.2), ("led", 0.2, 0.5), ("the", 0.5, 0.6), ("migration", 0.6, 1.1)],
        ),
    )
    fake_deepgram.after_bytes(4 * len(FRAME), results("It took", start=1.5, is_final=False))
    fake_deepgram.after_bytes(
        5 * len(FRAME),
        results("It took six weeks.", start=1.5, is_final=True, speech_final=True, word_seconds=0.25),
        {"type": "Metadata", "transaction_key": "x", "request_id": "r", "created": "now", "duration": 1, "channels": 1},
        utterance_end(2.5),
    )
    t = await started(fake_deepgram)
    for _ in range(5):
        await t.send_audio(FRAME)
    events = await collect(t, until=UTTERANCE_END)
    await t.close()

    # speech_final: every final before the pause is out (an ENDPOINT at its last word).
    assert [e.type for e in events] == [SPEECH_STARTED, PARTIAL, PARTIAL, FINAL, PARTIAL, FINAL, ENDPOINT, UTTERANCE_END]
    assert events[6].at == pytest.approx(2.5)
    assert [e.text for e in events if e.type == PARTIAL] == ["I led", "I led the", "It took"]
    first, second = [e for e in events if e.type == FINAL]
    assert first.text == "I led the migration."
    assert first.words == [Word("I", 0.1, 0.2), Word("led", 0.2, 0.5), Word("the", 0.5, 0.6), Word("migration.", 0.6, 1.1)]
    assert second.text == "It took six weeks."
    assert [(w.word, w.start, w.end) for w in second.words] == [
        ("It", 1.5, 1.75),
        ("took", 1.75, 2.0),
        ("six", 2.0, 2.25),
        ("weeks.", 2.25, 2.5),
    ]


async def test_it_skips_empty_results(fake_deepgram):
    fake_deepgram.after_bytes(
        len(FRAME),
        results("", is_final=False),
        results("", is_final=True, speech_final=True),
        results("Hello.", is_final=True, speech_final=True),
    )
    t = await started(fake_deepgram)
    await t.send_audio(FRAME)
    events = await collect(t, until=FINAL)
    await t.close()
    assert [(e.type, e.text) for e in events] == [(FINAL, "Hello.")]


async def test_it_sends_keepalive_only_while_no_audio_flows(fake_deepgram, monkeypatch):
    monkeypatch.setattr(dg, "KEEPALIVE_SECONDS", 0.1)
    t = await started(fake_deepgram)
    conn = await fake_deepgram.await_until(lambda: fake_deepgram.last)
    # Audio every 30 ms: no KeepAlive needed.
    for _ in range(10):
        await t.send_audio(FRAME)
        await asyncio.sleep(0.03)
    assert conn.keepalives == 0
    # Silence (muted or thinking): a KeepAlive about every 0.1 s.
    await asyncio.sleep(0.45)
    assert 2 <= conn.keepalives <= 6
    assert set(conn.controls) == {"KeepAlive"}
    await t.close()


async def test_it_flushes_the_last_finals_on_finish_then_closes(fake_deepgram):
    fake_deepgram.after_bytes(len(FRAME), results("So in the", is_final=False))
    fake_deepgram.on_flush(results("So in the end we shipped.", is_final=True, from_finalize=True))
    t = await started(fake_deepgram)
    await t.send_audio(FRAME)
    partial = await collect(t, until=PARTIAL)
    assert partial[-1].text == "So in the"
    began = time.monotonic()
    await t.finish()
    assert time.monotonic() - began < 2
    events = await collect(t)
    assert [(e.type, e.text) for e in events] == [(FINAL, "So in the end we shipped."), (CLOSED, "")]
    conn = fake_deepgram.last
    assert conn.controls[-1] == "CloseStream"
    assert await fake_deepgram.await_until(lambda: conn.closed)
    await t.send_audio(FRAME)  # too late: ignored, no error
    await t.close()  # idempotent


async def test_it_bounds_the_wait_when_the_server_never_closes(fake_deepgram, monkeypatch):
    monkeypatch.setattr(dg, "FINISH_TIMEOUT_SECONDS", 0.3)
    fake_deepgram.ignore_close_stream = True
    t = await started(fake_deepgram)
    await t.send_audio(FRAME)
    began = time.monotonic()
    await t.finish()
    assert time.monotonic() - began < 2
    assert [e.type for e in await collect(t)] == [CLOSED]


async def test_it_reports_a_dropped_socket_as_an_error_then_closed(fake_deepgram):
    fake_deepgram.after_bytes(len(FRAME), results("Well I", is_final=True))
    fake_deepgram.drop_after(3 * len(FRAME))
    t = await started(fake_deepgram)
    for _ in range(4):
        await t.send_audio(FRAME)
        await asyncio.sleep(0.02)
    events = await collect(t)
    assert [e.type for e in events] == [FINAL, ERROR, CLOSED]
    assert "connection was lost" in events[1].message
    assert fake_deepgram.last.dropped
    await t.send_audio(FRAME)  # after the loss: no exception
    await t.finish()
    await t.close()


async def test_it_reports_a_vendor_error_message(fake_deepgram):
    fake_deepgram.after_bytes(len(FRAME), error("Bad audio"))
    t = await started(fake_deepgram)
    await t.send_audio(FRAME)
    events = await collect(t, until=ERROR)
    assert events[-1].message == dg.MSG_VENDOR_ERROR
    await t.close()
    assert [e.type for e in await collect(t)] == [CLOSED]


@pytest.mark.parametrize(
    "code, reason, message",
    [(1000, "", dg.MSG_ENDED), (1011, "NET-0001", dg.MSG_LOST)],
)
async def test_it_reports_the_server_ending_the_stream(fake_deepgram, code, reason, message):
    fake_deepgram.close_after(2 * len(FRAME), code, reason)
    t = await started(fake_deepgram)
    for _ in range(2):
        await t.send_audio(FRAME)
    events = await collect(t)
    assert [e.type for e in events] == [ERROR, CLOSED]
    assert events[0].message == message


async def test_it_rejects_a_bad_key_without_retrying(fake_deepgram, settings):
    settings.DEEPGRAM_API_KEY = "not-the-key"
    t = get_live_transcriber()
    with pytest.raises(SpeechError) as caught:
        await t.start()
    assert caught.value.retryable is False
    assert "credentials" in str(caught.value)
    assert [status for status, _ in fake_deepgram.handshakes] == [401]
    await t.close()
    assert [e.type for e in await collect(t)] == [CLOSED]


async def test_it_retries_a_429_at_connect(fake_deepgram):
    fake_deepgram.reject(429, times=2)
    fake_deepgram.after_bytes(1, results("Hi.", is_final=True))
    t = await started(fake_deepgram)
    assert [status for status, _ in fake_deepgram.handshakes] == [429, 429, 101]
    await t.send_audio(FRAME)
    assert [e.text for e in await collect(t, until=FINAL)] == ["Hi."]
    await t.close()


async def test_it_gives_up_after_retries_on_persistent_429(fake_deepgram, settings):
    settings.SPEECH_RETRIES = 2
    fake_deepgram.reject(429, times=10)
    with pytest.raises(SpeechError) as caught:
        await get_live_transcriber().start()
    assert caught.value.retryable is True
    assert len(fake_deepgram.handshakes) == 3


async def test_it_treats_5xx_as_retryable(fake_deepgram):
    fake_deepgram.reject(503)
    t = await started(fake_deepgram)
    assert [status for status, _ in fake_deepgram.handshakes] == [503, 101]
    await t.close()


async def test_it_treats_a_refused_connection_as_retryable(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.DEEPGRAM_URL = f"ws://127.0.0.1:{port}"
    settings.DEEPGRAM_API_KEY = "k"
    settings.SPEECH_RETRIES = 1
    with pytest.raises(SpeechError) as caught:
        await get_live_transcriber().start()
    assert caught.value.retryable is True


async def test_it_refuses_to_start_without_a_key(settings):
    settings.DEEPGRAM_API_KEY = ""
    with pytest.raises(SpeechError) as caught:
        await get_live_transcriber().start()
    assert caught.value.retryable is False


async def test_it_keeps_streams_apart(fake_deepgram):
    fake_deepgram.after_bytes(len(FRAME), results("mine", is_final=True))
    a, b = await started(fake_deepgram), await started(fake_deepgram)
    await a.send_audio(FRAME)
    assert [e.text for e in await collect(a, until=FINAL)] == ["mine"]
    await a.close()
    await b.close()
    assert [e.type for e in await collect(b)] == [CLOSED]
    assert sorted(len(c.audio) for c in fake_deepgram.connections) == [0, len(FRAME)]


async def test_it_transcribes_a_scripted_answer(fake_deepgram):
    fake_deepgram.script_answer("I enjoy hard problems.", bytes_per_word=len(FRAME))
    t = await started(fake_deepgram)
    for _ in range(4):
        await t.send_audio(FRAME)
    events = await collect(t, until=UTTERANCE_END)
    await t.finish()
    assert [e.type for e in events] == [SPEECH_STARTED, PARTIAL, PARTIAL, PARTIAL, FINAL, ENDPOINT, UTTERANCE_END]
    assert events[3].text == "I enjoy hard"
    assert events[4].text == "I enjoy hard problems."
    assert [w.word for w in events[4].words] == ["I", "enjoy", "hard", "problems."]
    assert events[4].words[-1].end == pytest.approx(1.2)
    assert [e.type for e in await collect(t)] == [CLOSED]
