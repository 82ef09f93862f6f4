"""Hourly cleanup: idle interviews abandoned, old audio and speech tasks pruned."""

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from interviews.models import Interview, Turn
from interviews.tasks import abandon_idle_interviews
from interviews.maintenance import prune_old_audio
from speech.models import SpeechTask
from tests.factories import answered, make_interview

pytestmark = pytest.mark.django_db


def idle_for(interview, hours):
    Interview.objects.filter(pk=interview.pk).update(updated_at=timezone.now() - timedelta(hours=hours))


def test_it_abandons_interviews_idle_for_longer_than_the_setting(owner, settings):
    settings.INTERVIEW_IDLE_HOURS = 24
    idle, recent, finished = make_interview(owner), make_interview(owner), make_interview(owner, status="completed")
    idle_for(idle, 25)
    idle_for(recent, 23)
    idle_for(finished, 48)
    assert abandon_idle_interviews() == 1
    statuses = dict(Interview.objects.values_list("pk", "status"))
    assert statuses == {idle.pk: "abandoned", recent.pk: "active", finished.pk: "completed"}
    assert Interview.objects.get(pk=idle.pk).updated_at > timezone.now() - timedelta(minutes=1)
    assert abandon_idle_interviews() == 0


def test_it_keeps_an_interview_with_a_recent_turn(owner):
    # Turns are written with update(), which leaves updated_at alone.
    interview = answered(owner)
    idle_for(interview, 72)
    assert abandon_idle_interviews() == 0
    Turn.objects.filter(interview=interview).update(created_at=timezone.now() - timedelta(hours=30))
    assert abandon_idle_interviews() == 1


def test_it_keeps_an_interview_whose_turn_is_being_written(owner):
    interview = make_interview(owner)
    idle_for(interview, 48)
    Interview.objects.filter(pk=interview.pk).update(generating_until=timezone.now() + timedelta(seconds=60))
    assert abandon_idle_interviews() == 0


def write(path, age_days):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF....")
    stamp = time.time() - age_days * 86400
    os.utime(path, (stamp, stamp))
    return path


def test_it_prunes_old_audio_and_keeps_recent_audio(owner, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.AUDIO_RETENTION_DAYS = 30
    interview = answered(owner, answers=["Old spoken answer.", "New spoken answer."])
    older = make_interview(owner)
    old_tts = write(tmp_path / f"tts/{older.id}/old.wav", 31)
    new_tts = write(tmp_path / f"tts/{interview.id}/new.wav", 29)
    old_upload = write(tmp_path / f"uploads/{interview.id}/old.audio", 40)
    new_upload = write(tmp_path / f"uploads/{interview.id}/new.audio", 1)
    unrelated = write(tmp_path / "resumes/keep.pdf", 400)
    old_turn, new_turn = interview.turns.filter(speaker="candidate").order_by("index")
    Turn.objects.filter(pk=old_turn.pk).update(audio=f"uploads/{interview.id}/old.audio")
    Turn.objects.filter(pk=new_turn.pk).update(audio=f"uploads/{interview.id}/new.audio")

    summary = prune_old_audio()

    assert summary == {"tts_files": 1, "upload_files": 1, "turns_cleared": 1, "tasks": 0, "orphan_folders": 0}
    assert not old_tts.exists() and not (tmp_path / f"tts/{older.id}").exists()
    assert new_tts.exists() and new_upload.exists() and unrelated.exists()
    assert not old_upload.exists()
    old_turn.refresh_from_db()
    new_turn.refresh_from_db()
    assert old_turn.audio.name == "" and old_turn.text == "Old spoken answer."
    assert new_turn.audio.name == f"uploads/{interview.id}/new.audio"


def test_it_deletes_old_finished_speech_tasks_only(owner, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    interview = make_interview(owner)
    long_ago = timezone.now() - timedelta(days=45)
    old_done = SpeechTask.objects.create(interview=interview, kind="tts", status="completed", finished_at=long_ago, created_at=long_ago)
    old_failed = SpeechTask.objects.create(interview=interview, kind="stt_batch", status="error", created_at=long_ago)
    old_queued = SpeechTask.objects.create(interview=interview, kind="tts", status="queued", created_at=long_ago)
    recent = SpeechTask.objects.create(interview=interview, kind="tts", status="completed", finished_at=timezone.now())
    assert prune_old_audio()["tasks"] == 2
    left = set(SpeechTask.objects.values_list("pk", flat=True))
    assert left == {old_queued.pk, recent.pk}
    assert old_done.pk not in left and old_failed.pk not in left


def test_it_copes_with_an_empty_media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(Path(tmp_path) / "missing")
    assert prune_old_audio() == {"tts_files": 0, "upload_files": 0, "turns_cleared": 0, "tasks": 0, "orphan_folders": 0}


def test_it_removes_the_folders_of_deleted_interviews_whatever_their_age(owner, settings, tmp_path):
    # A worker or an upload may finish writing just after its interview was deleted.
    settings.MEDIA_ROOT = str(tmp_path)
    alive, gone = make_interview(owner), make_interview(owner)
    kept = [write(tmp_path / f"tts/{alive.id}/a.wav", 0), write(tmp_path / f"uploads/{alive.id}/a.audio", 0)]
    legacy = write(tmp_path / "tts/ab/shared.wav", 0)  # the cache before it was kept per interview: pruned by age
    write(tmp_path / f"tts/{gone.id}/late.wav", 0)
    write(tmp_path / f"uploads/{gone.id}/late.audio", 0)
    gone.delete()

    assert prune_old_audio()["orphan_folders"] == 2

    assert all(path.exists() for path in kept) and legacy.exists()
    assert not (tmp_path / f"tts/{gone.id}").exists() and not (tmp_path / f"uploads/{gone.id}").exists()
