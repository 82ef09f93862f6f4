"""Speaking the interviewer's turns: one SpeechTask per sentence, synthesised
by the `tts` worker cluster, cached per interview by (provider, voice, speed,
text) so a sentence heard again (a reload, a retry) is made once."""

import hashlib
import math
import os
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from speech.models import SpeechTask

MIN_SPEED, MAX_SPEED = 0.75, 1.5


def voice_id():
    if settings.SPEECH_TTS == "polly":
        return f"polly:{settings.POLLY_ENGINE}:{settings.POLLY_VOICE}"
    return "local:en_US-joe-medium"


def cache_path(interview_id, text, speed):
    # One cache per interview, not one shared by everybody: the interviewer's
    # sentences may quote the candidate, and a shared "already cached" would
    # tell one user what another user's interview said, and outlive its
    # deletion. Sharing only text free of candidate words would save a few
    # syntheses of stock phrases at the price of proving each sentence free
    # of them; the folder goes with the interview (Interview.delete_with_files).
    key = hashlib.sha256(f"{voice_id()}|{speed:.2f}|{text}".encode()).hexdigest()
    extension = "mp3" if settings.SPEECH_TTS == "polly" else "wav"
    return Path("tts") / str(interview_id) / f"{key}.{extension}"


def content_type_for(path):
    return "audio/mpeg" if str(path).endswith(".mp3") else "audio/wav"


def queue_sentence(interview_id, text, speed, turn_index, seq):
    """A SpeechTask for one sentence: completed at once from the cache, or queued."""
    # NaN slips through min/max, so a non-finite speed becomes the default.
    speed = min(max(speed, MIN_SPEED), MAX_SPEED) if math.isfinite(speed) else 1.0
    relative = cache_path(interview_id, text, speed)
    meta = {"text": text, "speed": speed, "turn_index": turn_index, "seq": seq, "path": str(relative)}
    cached = Path(settings.MEDIA_ROOT) / relative
    if cached.exists():
        # Pruning goes by age: a phrase still in use stays young.
        os.utime(cached)
        return SpeechTask.objects.create(
            interview_id=interview_id,
            kind=SpeechTask.Kind.TTS,
            status=SpeechTask.Status.COMPLETED,
            progress=100,
            result={**meta, "cached": True},
            provider=voice_id(),
            finished_at=timezone.now(),
        )
    task = SpeechTask.objects.create(
        interview_id=interview_id, kind=SpeechTask.Kind.TTS, result=meta, provider=voice_id()
    )
    from django_q.tasks import async_task

    async_task("speech.tasks.synthesize", str(task.id), cluster="tts", task_name=f"tts-{task.id}")
    return task


def spoken_turns(interview_id):
    """{turn index: [task id, …] in speaking order}: the sentences of each of
    the interview's turns that were spoken and can be heard again (made, with
    their file still in the cache, or still being made). What "Replay" plays.

    A turn written again after a failure (Retry) spoke again from its first
    sentence: only its last run counts.
    """
    tasks = (
        SpeechTask.objects.filter(interview_id=interview_id, kind=SpeechTask.Kind.TTS)
        .exclude(status=SpeechTask.Status.ERROR)
        .order_by("created_at")
        .values_list("id", "status", "result")
    )
    runs = {}
    for task_id, status, result in tasks:
        result = result or {}
        index, seq = result.get("turn_index"), result.get("seq")
        if index is None or seq is None:
            continue
        if seq == 0 or index not in runs:
            runs[index] = []
        runs[index].append((seq, task_id, status, result.get("path", "")))
    spoken = {}
    for index, run in runs.items():
        # The cleanup prunes old files: a sentence whose file is gone cannot be replayed.
        ids = [
            task_id
            for _, task_id, status, path in sorted(run, key=lambda item: item[0])
            if status != SpeechTask.Status.COMPLETED or (path and (Path(settings.MEDIA_ROOT) / path).is_file())
        ]
        if ids:
            spoken[index] = ids
    return spoken
