"""AssemblyAITranscriber with the real assemblyai SDK against a fake AssemblyAI server on 127.0.0.1."""

import socket
import threading
import time

import pytest

from lib import resilience
from speech.audio import pcm_to_wav
from speech.providers import assemblyai as aai_provider
from speech.providers import get_batch_transcriber
from speech.providers.base import SpeechError, Transcript, Word
from tests.fakes.assemblyai import fake_assemblyai  # noqa: F401


@pytest.fixture(autouse=True)
def fast(settings, monkeypatch):
    settings.SPEECH_BATCH_STT = "assemblyai"
    settings.SPEECH_TIMEOUT = 3
    settings.SPEECH_RETRIES = 3
    settings.ASSEMBLYAI_MAX_WAIT_SECONDS = 5
    monkeypatch.setattr(resilience, "BACKOFF_BASE_SECONDS", 0.01)
    resilience.reset_breakers()
    yield
    resilience.reset_breakers()


@pytest.fixture
def recording(tmp_path):
    # Real audio (two seconds of silence): the transcriber decodes it, counting
    # its length, before it sends anything. What it says doesn't matter to the fake.
    path = tmp_path / "answer.wav"
    path.write_bytes(pcm_to_wav(bytes(2 * 32_000)))
    return path


def transcriber():
    t = get_batch_transcriber()
    assert isinstance(t, aai_provider.AssemblyAITranscriber)
    return t


def test_it_uploads_creates_and_polls_to_a_transcript_in_seconds(fake_assemblyai, recording):
    fake_assemblyai.script(
        "I led the migration.",
        words=[("I", 120, 300), ("led", 300, 640), ("the", 640, 760), ("migration.", 760, 1490)],
        audio_duration=2,
        polls=2,
    )
    result = transcriber().transcribe(recording)

    assert result == Transcript(
        text="I led the migration.",
        words=[Word("I", 0.12, 0.3), Word("led", 0.3, 0.64), Word("the", 0.64, 0.76), Word("migration.", 0.76, 1.49)],
        duration=2.0,
    )
    # The real wire sequence: upload, create with the upload URL, poll until completed.
    assert fake_assemblyai.paths()[:2] == ["/v2/upload", "/v2/transcript"]
    (upload_url, data), = fake_assemblyai.uploads.items()
    assert data == recording.read_bytes()
    (record,) = fake_assemblyai.transcripts.values()
    assert record.request["audio_url"] == upload_url
    assert fake_assemblyai.paths("GET") == [f"/v2/transcript/{record.id}"] * 3
    assert record.polls == 3  # queued, processing, completed
    assert all(r.headers["authorization"] == fake_assemblyai.api_key for r in fake_assemblyai.requests)
    assert fake_assemblyai.in_flight == 0


def test_it_waits_the_poll_interval_between_polls(fake_assemblyai, recording, settings):
    settings.ASSEMBLYAI_POLL_SECONDS = 0.15
    fake_assemblyai.script("Yes.", polls=2)
    began = time.monotonic()
    assert transcriber().transcribe(recording).text == "Yes."
    assert time.monotonic() - began >= 0.3
    assert len(fake_assemblyai.paths("GET")) == 3


def test_it_raises_the_vendor_message_when_the_transcript_fails(fake_assemblyai, recording):
    fake_assemblyai.script(error="Transcoding failed. File does not appear to contain audio.")
    with pytest.raises(SpeechError) as caught:
        transcriber().transcribe(recording)
    assert "File does not appear to contain audio." in str(caught.value)
    assert caught.value.retryable is False
    assert len(fake_assemblyai.paths("POST")) == 2  # not retried: the vendor answered


def test_it_retries_a_429_then_succeeds(fake_assemblyai, recording):
    fake_assemblyai.fail(429, times=2, path="/v2/transcript")
    assert transcriber().transcribe(recording).text == fake_assemblyai._default.text
    creates = [r for r in fake_assemblyai.requests if r.method == "POST" and r.path == "/v2/transcript"]
    assert len(creates) == 3
    assert len(fake_assemblyai.uploads) == 1  # the upload wasn't repeated
    assert len(fake_assemblyai.transcripts) == 1


def test_it_retries_a_failing_poll(fake_assemblyai, recording):
    fake_assemblyai.script("Fine.", polls=0)
    fake_assemblyai.fail(503, times=1, path="/v2/transcript/")
    assert transcriber().transcribe(recording).text == "Fine."


def test_it_gives_up_after_retries_on_persistent_500(fake_assemblyai, recording, settings):
    settings.SPEECH_RETRIES = 2
    fake_assemblyai.fail(500, times=50)
    with pytest.raises(SpeechError) as caught:
        transcriber().transcribe(recording)
    assert caught.value.retryable is True
    assert fake_assemblyai.paths() == ["/v2/upload"] * 3


def test_it_rejects_a_bad_key_without_retrying(fake_assemblyai, recording, settings):
    settings.ASSEMBLYAI_API_KEY = "wrong"
    with pytest.raises(SpeechError) as caught:
        transcriber().transcribe(recording)
    assert caught.value.retryable is False
    assert "credentials" in str(caught.value)
    assert len(fake_assemblyai.requests) == 1


def test_it_reports_a_bad_request_with_the_vendor_message(fake_assemblyai, recording):
    fake_assemblyai.fail(400, path="/v2/transcript", message="Invalid audio_url: unsupported file")
    with pytest.raises(SpeechError) as caught:
        transcriber().transcribe(recording)
    assert caught.value.retryable is False
    assert "Invalid audio_url: unsupported file" in str(caught.value)


def test_it_gives_up_after_the_maximum_wait(fake_assemblyai, recording, settings):
    settings.ASSEMBLYAI_MAX_WAIT_SECONDS = 0.3
    settings.ASSEMBLYAI_POLL_SECONDS = 0.05
    fake_assemblyai.script("never", processing_seconds=60)
    began = time.monotonic()
    with pytest.raises(SpeechError) as caught:
        transcriber().transcribe(recording)
    assert time.monotonic() - began < 2
    assert "took too long" in str(caught.value)


def test_it_treats_an_unreachable_service_as_retryable(recording, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.ASSEMBLYAI_BASE_URL = f"http://127.0.0.1:{port}"
    settings.ASSEMBLYAI_API_KEY = "k"
    settings.SPEECH_RETRIES = 1
    with pytest.raises(SpeechError) as caught:
        transcriber().transcribe(recording)
    assert caught.value.retryable is True


def test_it_refuses_without_a_key(recording, settings):
    settings.ASSEMBLYAI_API_KEY = ""
    with pytest.raises(SpeechError) as caught:
        transcriber().transcribe(recording)
    assert caught.value.retryable is False


def test_it_falls_back_to_the_last_word_for_duration(fake_assemblyai, recording):
    fake_assemblyai.script("One two three")
    result = transcriber().transcribe(recording)
    assert [w.word for w in result.words] == ["One", "two", "three"]
    assert result.words[-1].end == 0.9
    assert result.duration == 1.0  # the API's whole seconds


def test_it_serves_concurrent_workers_and_records_in_flight(fake_assemblyai, recording):
    fake_assemblyai.default("Parallel.", processing_seconds=0.2)
    results, errors = [], []

    def work():
        try:
            results.append(transcriber().transcribe(recording).text)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    assert results == ["Parallel."] * 4
    assert fake_assemblyai.max_in_flight == 4
    assert fake_assemblyai.in_flight == 0
