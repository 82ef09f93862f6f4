"""Helpers for the deletion tests: an interview's files in MEDIA_ROOT, and
the "close your sockets" messages a user's channel-layer group receives."""

import asyncio
import time
import uuid
from pathlib import Path

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.files.base import ContentFile

from speech.models import SpeechTask
from speech.tts import queue_sentence
from tests.factories import answered


def media(relative):
    return Path(settings.MEDIA_ROOT) / relative


def interview_with_files(owner, marker, monkeypatch):
    """An interview with every kind of file it can have; returns (interview, their paths).

    - an answer's recording saved through Turn.audio (answers/YYYY/MM/…),
    - an uploaded recording attached to an answer, and one never attached
      (uploads/<interview>/…, as interviews.voice.upload_answer_audio writes them),
    - a spoken sentence, written where the `tts` worker would write it.
    """
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    interview = answered(owner, answers=[f"{marker} first answer.", f"{marker} second answer."])
    recorded, uploaded = interview.turns.filter(speaker="candidate").order_by("index")
    recorded.audio.save(f"{marker}.webm", ContentFile(b"recording"))
    attached = f"uploads/{interview.id}/{uuid.uuid4()}.audio"
    unattached = f"uploads/{interview.id}/{uuid.uuid4()}.audio"
    for name in (attached, unattached):
        media(name).parent.mkdir(parents=True, exist_ok=True)
        media(name).write_bytes(b"upload")
    type(uploaded).objects.filter(pk=uploaded.pk).update(audio=attached)
    SpeechTask.objects.create(interview=interview, kind=SpeechTask.Kind.STT_BATCH, result={"path": unattached})
    spoken = queue_sentence(interview.id, f"So, {marker}, tell me more.", 1.0, 0, 0).result["path"]
    media(spoken).parent.mkdir(parents=True, exist_ok=True)
    media(spoken).write_bytes(b"RIFF....")
    paths = [media(recorded.audio.name), media(attached), media(unattached), media(spoken)]
    assert all(path.exists() for path in paths)
    return interview, paths


class SocketCloses:
    """Listens to a user's group as a socket would, and hands back its messages."""

    def __init__(self, user_pk):
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(f"user.{user_pk}", self.channel)

    def next(self, timeout=5):
        async def receive():
            return await asyncio.wait_for(self.layer.receive(self.channel), timeout)

        return async_to_sync(receive)()


class ShiftedClock:
    """Stands in for the `time` module of allauth's rate limiter, `offset` seconds in the future."""

    def __init__(self):
        self.offset = 0

    def time(self):
        return time.time() + self.offset

    def monotonic(self):
        return time.monotonic()

    def sleep(self, seconds):
        time.sleep(seconds)
