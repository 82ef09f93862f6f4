"""SpeechTask.claim, finish and fail: a speech task runs to completion at most once, and a
task whose worker died is taken up again."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from speech.models import SpeechTask, give_up_after, stale_after
from tests.factories import make_interview


@pytest.fixture
def task(owner):
    return SpeechTask.objects.create(interview=make_interview(owner), kind=SpeechTask.Kind.STT_BATCH, result={"path": "a.wav"})


def test_it_claims_a_queued_task_once(task):
    assert task.claim() is True
    assert task.claim() is False  # a duplicate delivery while it runs
    task.refresh_from_db()
    assert task.status == SpeechTask.Status.PROCESSING
    assert task.started_at is not None


def test_it_does_nothing_for_a_finished_task_delivered_again(task):
    assert task.claim()
    assert task.finish({"text": "hello"}) is True
    assert task.claim() is False
    assert task.finish({"text": "again"}) is False
    task.refresh_from_db()
    assert (task.status, task.result, task.progress) == (SpeechTask.Status.COMPLETED, {"text": "hello"}, 100)


def test_it_does_nothing_for_a_failed_task_delivered_again(task):
    assert task.claim()
    assert task.fail("Could not read the audio.") is True
    assert task.claim() is False
    assert task.finish({"text": "late"}) is False
    task.refresh_from_db()
    assert (task.status, task.error) == (SpeechTask.Status.ERROR, "Could not read the audio.")


def test_it_only_finishes_or_fails_a_task_being_processed(task):
    assert task.finish({"text": "x"}) is False
    assert task.fail("x") is False
    task.refresh_from_db()
    assert task.status == SpeechTask.Status.QUEUED


def test_it_reclaims_a_task_whose_worker_died(task):
    assert task.claim()
    # Still within its run's time: someone may be working on it.
    SpeechTask.objects.filter(pk=task.pk).update(started_at=timezone.now() - stale_after(task.kind) + timedelta(seconds=5))
    assert task.claim() is False
    # Past it: the run is over, so the redelivered task runs again.
    crashed_at = timezone.now() - stale_after(task.kind) - timedelta(seconds=1)
    SpeechTask.objects.filter(pk=task.pk).update(started_at=crashed_at)
    assert task.claim() is True
    task.refresh_from_db()
    assert task.status == SpeechTask.Status.PROCESSING
    assert task.started_at > crashed_at
    assert task.claim() is False


def test_it_never_completes_a_task_twice(task):
    assert task.claim()  # run A, which stalls
    SpeechTask.objects.filter(pk=task.pk).update(started_at=timezone.now() - stale_after(task.kind) - timedelta(seconds=1))
    assert task.claim()  # run B, after redelivery
    assert task.finish({"run": "B"}) is True
    assert task.finish({"run": "A"}) is False
    assert task.fail("A gave up") is False
    task.refresh_from_db()
    assert (task.status, task.result) == (SpeechTask.Status.COMPLETED, {"run": "B"})


def test_it_gives_up_on_a_task_that_keeps_killing_its_worker(task):
    long_ago = timezone.now() - give_up_after(task.kind) - timedelta(seconds=1)
    SpeechTask.objects.filter(pk=task.pk).update(
        status=SpeechTask.Status.PROCESSING, created_at=long_ago, started_at=long_ago + timedelta(seconds=1)
    )
    assert task.claim() is False
    task.refresh_from_db()
    assert task.status == SpeechTask.Status.ERROR
    assert "try again" in task.error


def test_it_still_runs_an_old_task_that_never_started(task):
    SpeechTask.objects.filter(pk=task.pk).update(created_at=timezone.now() - give_up_after(task.kind) * 2)
    assert task.claim() is True


def test_it_ignores_a_missing_task(db):
    assert SpeechTask(pk=uuid.uuid4(), kind=SpeechTask.Kind.STT_BATCH).claim() is False


def test_it_waits_past_the_timeout_and_reclaims_before_the_retry(settings):
    for kind, cluster in ((SpeechTask.Kind.STT_BATCH, "stt"), (SpeechTask.Kind.TTS, "tts")):
        conf = settings.Q_CLUSTER["ALT_CLUSTERS"][cluster]
        assert conf["timeout"] < stale_after(kind).total_seconds() < conf["retry"] - conf["timeout"]


def test_it_sizes_the_speech_clusters_by_the_providers_caps(settings):
    clusters = settings.Q_CLUSTER["ALT_CLUSTERS"]
    expected_stt = settings.CAP_ASSEMBLYAI if settings.SPEECH_BATCH_STT == "assemblyai" else settings.CAP_LOCAL_STT_BATCH
    expected_tts = settings.CAP_POLLY if settings.SPEECH_TTS == "polly" else settings.CAP_LOCAL_TTS
    assert (clusters["stt"]["workers"], clusters["tts"]["workers"]) == (expected_stt, expected_tts)
    for conf in clusters.values():
        assert conf["timeout"] < conf["retry"]


def test_it_queues_speech_work_for_its_own_cluster(db):
    from django_q.tasks import async_task

    async_task("math.floor", 1.5, cluster="stt")
    async_task("math.floor", 2.5, cluster="tts")
    async_task("math.floor", 3.5)
    assert sorted(OrmQ.objects.values_list("key", flat=True)) == ["interviewer", "stt", "tts"]
