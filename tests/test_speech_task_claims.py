"""speech.tasks_util: a speech task runs to completion at most once, and a
task whose worker died is taken up again."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from speech.models import SpeechTask
from speech.tasks_util import claim_task, fail_task, finish_task, give_up_after, stale_after
from tests.factories import make_interview


@pytest.fixture
def task(owner):
    return SpeechTask.objects.create(interview=make_interview(owner), kind=SpeechTask.Kind.STT_BATCH, result={"path": "a.wav"})


def test_it_claims_a_queued_task_once(task):
    assert claim_task(task.pk) is True
    assert claim_task(task.pk) is False  # a duplicate delivery while it runs
    task.refresh_from_db()
    assert task.status == SpeechTask.Status.PROCESSING
    assert task.started_at is not None


def test_it_does_nothing_for_a_finished_task_delivered_again(task):
    assert claim_task(task.pk)
    assert finish_task(task.pk, {"text": "hello"}) is True
    assert claim_task(task.pk) is False
    assert finish_task(task.pk, {"text": "again"}) is False
    task.refresh_from_db()
    assert (task.status, task.result, task.progress) == (SpeechTask.Status.COMPLETED, {"text": "hello"}, 100)


def test_it_does_nothing_for_a_failed_task_delivered_again(task):
    assert claim_task(task.pk)
    assert fail_task(task.pk, "Could not read the audio.") is True
    assert claim_task(task.pk) is False
    assert finish_task(task.pk, {"text": "late"}) is False
    task.refresh_from_db()
    assert (task.status, task.error) == (SpeechTask.Status.ERROR, "Could not read the audio.")


def test_it_only_finishes_or_fails_a_task_being_processed(task):
    assert finish_task(task.pk, {"text": "x"}) is False
    assert fail_task(task.pk, "x") is False
    task.refresh_from_db()
    assert task.status == SpeechTask.Status.QUEUED


def test_it_reclaims_a_task_whose_worker_died(task):
    assert claim_task(task.pk)
    # Still within its run's time: someone may be working on it.
    SpeechTask.objects.filter(pk=task.pk).update(started_at=timezone.now() - stale_after(task.kind) + timedelta(seconds=5))
    assert claim_task(task.pk) is False
    # Past it: the run is over, so the redelivered task runs again.
    crashed_at = timezone.now() - stale_after(task.kind) - timedelta(seconds=1)
    SpeechTask.objects.filter(pk=task.pk).update(started_at=crashed_at)
    assert claim_task(task.pk) is True
    task.refresh_from_db()
    assert task.status == SpeechTask.Status.PROCESSING
    assert task.started_at > crashed_at
    assert claim_task(task.pk) is False


def test_it_never_completes_a_task_twice(task):
    assert claim_task(task.pk)  # run A, which stalls
    SpeechTask.objects.filter(pk=task.pk).update(started_at=timezone.now() - stale_after(task.kind) - timedelta(seconds=1))
    assert claim_task(task.pk)  # run B, after redelivery
    assert finish_task(task.pk, {"run": "B"}) is True
    assert finish_task(task.pk, {"run": "A"}) is False
    assert fail_task(task.pk, "A gave up") is False
    task.refresh_from_db()
    assert (task.status, task.result) == (SpeechTask.Status.COMPLETED, {"run": "B"})


def test_it_gives_up_on_a_task_that_keeps_killing_its_worker(task):
    long_ago = timezone.now() - give_up_after(task.kind) - timedelta(seconds=1)
    SpeechTask.objects.filter(pk=task.pk).update(
        status=SpeechTask.Status.PROCESSING, created_at=long_ago, started_at=long_ago + timedelta(seconds=1)
    )
    assert claim_task(task.pk) is False
    task.refresh_from_db()
    assert task.status == SpeechTask.Status.ERROR
    assert "try again" in task.error


def test_it_still_runs_an_old_task_that_never_started(task):
    SpeechTask.objects.filter(pk=task.pk).update(created_at=timezone.now() - give_up_after(task.kind) * 2)
    assert claim_task(task.pk) is True


def test_it_ignores_a_missing_task(db):
    assert claim_task(uuid.uuid4()) is False


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
