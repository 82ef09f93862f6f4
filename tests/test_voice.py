"""Uploaded answers (stt queue) and the interviewer's voice (tts queue), with the
local engines, django-q2 running tasks inline."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from interviews import turns
from interviews.models import Turn
from speech.models import SpeechTask
from speech.tts import queue_sentence
from tests.factories import ask, make_interview
from tests.scripted_engine import ScriptedEngine
from tests.speech_samples import wav_file


@pytest.fixture(autouse=True)
def inline_tasks(settings, tmp_path, monkeypatch):
    # django-q2 reads its settings once, at import: switch its own flag.
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RATE_LIMITS_ENABLED = False


@pytest.fixture
def interview(owner):
    interview = make_interview(owner)
    ask(interview, "Tell me about a migration you led.")
    return interview


def upload(client, interview, name, content):
    return client.post(
        reverse("upload_answer_audio", args=[interview.id]),
        {"audio": SimpleUploadedFile(name, content)},
        HTTP_HX_REQUEST="true",
    )


def test_it_transcribes_an_uploaded_answer_and_keeps_the_recording(owner_client, interview, tmp_path):
    path = wav_file(tmp_path, "I moved our billing system to Kubernetes and cut costs.")
    response = upload(owner_client, interview, "answer.wav", path.read_bytes())
    task = SpeechTask.objects.get(interview=interview)
    assert task.status == "completed", task.error
    assert "kubernetes" in task.result["text"].lower()
    status = owner_client.get(reverse("speech_task_status", args=[task.id])).content.decode()
    assert "data-transcript-ready" in status and "Kubernetes" in status
    assert response.status_code == 200
    owner_client.post(
        reverse("submit_answer", args=[interview.id]),
        {"answer": task.result["text"], "after_index": 0, "speech_task": str(task.id), "source": "typed"},
        HTTP_HX_REQUEST="true",
    )
    answer = interview.turns.get(index=1)
    assert answer.source == Turn.Source.UPLOADED_AUDIO
    assert answer.audio.name == task.result["path"]
    assert answer.speaking_seconds and answer.speaking_seconds > 1


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("answer.wav", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "not audio"),
        ("answer.mp3", b"just some text, not sound", "not audio"),
    ],
)
def test_it_refuses_files_that_are_not_audio_and_keeps_nothing(owner_client, interview, settings, name, content, message):
    response = upload(owner_client, interview, name, content)
    assert message in response.content.decode()
    assert not SpeechTask.objects.exists()
    from pathlib import Path

    uploads = Path(settings.MEDIA_ROOT) / "uploads"
    assert not uploads.exists() or not any(uploads.rglob("*.audio"))


def test_it_refuses_oversized_uploads(owner_client, interview, settings):
    settings.AUDIO_UPLOAD_MAX_BYTES = 1000
    response = upload(owner_client, interview, "big.wav", b"RIFF" + b"\x00" * 2000)
    assert "too large" in response.content.decode()
    assert not SpeechTask.objects.exists()


def test_it_hides_upload_tasks_from_other_users(client, other, owner_client, interview, tmp_path):
    path = wav_file(tmp_path, "Short answer.")
    upload(owner_client, interview, "a.wav", path.read_bytes())
    task = SpeechTask.objects.get()
    client.force_login(other)
    assert client.get(reverse("speech_task_status", args=[task.id])).status_code == 404
    assert upload(client, interview, "a.wav", path.read_bytes()).status_code == 404


def test_it_speaks_a_sentence_once_and_serves_it_with_byte_ranges(owner_client, owner, interview):
    task = queue_sentence(interview.id, "Welcome to your practice interview today.", 1.0, 0, 0)
    task.refresh_from_db()
    assert task.status == "completed", task.error
    url = reverse("speech_task_audio", args=[task.id])
    full = owner_client.get(url)
    body = b"".join(full.streaming_content)
    assert full["Content-Type"] == "audio/wav" and body[:4] == b"RIFF"
    part = owner_client.get(url, HTTP_RANGE="bytes=0-99")
    assert part.status_code == 206 and len(part.content) == 100
    assert part["Content-Range"] == f"bytes 0-99/{len(body)}"
    again = queue_sentence(interview.id, "Welcome to your practice interview today.", 1.0, 2, 0)
    assert again.status == "completed" and again.result["cached"] is True


def test_it_hides_spoken_audio_from_other_users(client, other, interview):
    task = queue_sentence(interview.id, "A private question about your résumé.", 1.0, 0, 0)
    client.force_login(other)
    assert client.get(reverse("speech_task_audio", args=[task.id])).status_code == 404


def test_it_saves_voice_settings_within_bounds(owner_client, interview):
    url = reverse("voice_settings", args=[interview.id])
    owner_client.post(url, {"speak_questions": "on", "speech_speed": "9"})
    interview.refresh_from_db()
    assert interview.speak_questions and interview.speech_speed == 1.5
    owner_client.post(url, {"speech_speed": "abc"})
    interview.refresh_from_db()
    assert not interview.speak_questions and interview.speech_speed == 1.5


@pytest.mark.django_db(transaction=True)
async def test_it_queues_speech_sentence_by_sentence_while_the_turn_streams(owner, monkeypatch, settings):
    monkeypatch.setattr(turns, "get_engine", lambda: ScriptedEngine())
    queued = []
    monkeypatch.setattr("interviews.turns.queue_sentence", lambda *args: queued.append(args) or _FakeTask())
    interview = await database_sync_to_async(make_interview)(owner, speak_questions=True, speech_speed=1.25)
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(turns.group_name(interview.id), channel)
    await turns.run_interviewer_turn(interview.id)
    events = []
    while True:
        try:
            events.append((await asyncio.wait_for(layer.receive(channel), 0.2))["payload"])
        except asyncio.TimeoutError:
            break
    spoken = [e for e in events if e["event"] == "speech.sentence"]
    assert [q[1] for q in queued] == ["Question number 1 for Backend Engineer?"]
    assert queued[0][2] == 1.25
    assert spoken and spoken[0]["url"].endswith("/audio")
    # Speech is announced before the turn is complete, not after.
    names = [e["event"] for e in events]
    assert names.index("speech.sentence") < names.index("turn.done")


class _FakeTask:
    id = "00000000-0000-0000-0000-000000000000"
