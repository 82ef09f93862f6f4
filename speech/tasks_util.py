"""Claiming SpeechTask rows, so speech work runs to completion at most once.

django-q2's ORM broker delivers a task again when its worker died before
acknowledging it (after the cluster's `retry` seconds), and may deliver a
task twice. So a task function starts with

    if not claim_task(task_id):
        return False          # finished, failed, or running elsewhere

and ends with finish_task() or fail_task(), which only change a task that is
still "processing": a duplicate delivery of a finished task does nothing, and
a task whose worker was killed is claimed again once its run must be over.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from speech.models import SpeechTask

# Which django-q2 cluster runs each kind of task.
CLUSTER_FOR_KIND = {SpeechTask.Kind.STT_BATCH: "stt", SpeechTask.Kind.TTS: "tts"}
# How long after its timeout a run is surely over (q2 checks its workers'
# timers every guard cycle, half a second, then stops the worker).
STALE_MARGIN_SECONDS = 30


def cluster_conf(kind):
    conf = dict(settings.Q_CLUSTER)
    alt = conf.pop("ALT_CLUSTERS", {}).get(CLUSTER_FOR_KIND.get(kind), {})
    conf.update(alt)
    return conf


def stale_after(kind):
    """How long a "processing" task of this kind may go before its run is
    known to be dead: past the cluster's timeout (q2 stops the run by then)
    and well short of its retry (when q2 delivers the task again)."""
    conf = cluster_conf(kind)
    timeout, retry = conf.get("timeout", 60), conf.get("retry", 60)
    return timedelta(seconds=min(timeout + STALE_MARGIN_SECONDS, (timeout + retry) / 2))


def give_up_after(kind):
    """A task still unfinished this long after it was queued keeps killing
    its worker (or never gets one): stop delivering it to workers."""
    conf = cluster_conf(kind)
    return timedelta(seconds=max(1, conf.get("max_attempts") or 3) * conf.get("retry", 60))


def claim_task(task_id):
    """Mark the task "processing" for this run; False if it is not ours to run."""
    kind = SpeechTask.objects.filter(pk=task_id).values_list("kind", flat=True).first()
    if kind is None:
        return False
    now = timezone.now()
    stale = Q(status=SpeechTask.Status.PROCESSING, started_at__lt=now - stale_after(kind))
    claimable = SpeechTask.objects.filter(Q(status=SpeechTask.Status.QUEUED) | stale, pk=task_id)
    if claimable.filter(created_at__lt=now - give_up_after(kind)).exclude(status=SpeechTask.Status.QUEUED).update(
        status=SpeechTask.Status.ERROR,
        error="This took too long and was stopped. Please try again.",
        finished_at=now,
    ):
        return False
    return claimable.update(status=SpeechTask.Status.PROCESSING, started_at=now) == 1


def finish_task(task_id, result):
    """Store the result of a task this process is running; False if it was not "processing"."""
    done = SpeechTask.objects.filter(pk=task_id, status=SpeechTask.Status.PROCESSING)
    return done.update(status=SpeechTask.Status.COMPLETED, result=result, progress=100, finished_at=timezone.now()) == 1


def fail_task(task_id, message):
    """Record a failure (message safe to show the candidate); False if it was not "processing"."""
    failed = SpeechTask.objects.filter(pk=task_id, status=SpeechTask.Status.PROCESSING)
    return failed.update(status=SpeechTask.Status.ERROR, error=message, finished_at=timezone.now()) == 1
