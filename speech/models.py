import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# How long after its timeout a run is surely over (q2 checks its workers'
# timers every guard cycle, half a second, then stops the worker).
STALE_MARGIN_SECONDS = 30


class SpeechTask(models.Model):
    """One batch transcription or speech synthesis job, tracked for the page.

    Its work runs to completion at most once. django-q2's ORM broker delivers
    a task again when its worker died before acknowledging it (after the
    cluster's `retry` seconds), and may deliver a task twice. So a task
    function starts with

        if not task.claim():
            return False          # finished, failed, or running elsewhere

    and ends with task.finish() or task.fail(), which only change a task that
    is still "processing": a duplicate delivery of a finished task does
    nothing, and a task whose worker was killed is claimed again once its run
    must be over.
    """

    class Kind(models.TextChoices):
        STT_BATCH = "stt_batch", "Transcribe upload"
        TTS = "tts", "Synthesise speech"
        STT_STREAM = "stt_stream", "Live transcription"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        ERROR = "error", "Error"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    interview = models.ForeignKey("interviews.Interview", on_delete=models.CASCADE, related_name="speech_tasks")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    provider = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["interview", "status"], name="speechtask_interview_status")]

    def claim(self):
        """Mark the task "processing" for this run; False if it is not ours to run."""
        now = timezone.now()
        stale = Q(status=self.Status.PROCESSING, started_at__lt=now - stale_after(self.kind))
        claimable = SpeechTask.objects.filter(Q(status=self.Status.QUEUED) | stale, pk=self.pk)
        if claimable.filter(created_at__lt=now - give_up_after(self.kind)).exclude(status=self.Status.QUEUED).update(
            status=self.Status.ERROR,
            error="This took too long and was stopped. Please try again.",
            finished_at=now,
        ):
            return False
        if claimable.update(status=self.Status.PROCESSING, started_at=now) != 1:
            return False
        self.status, self.started_at = self.Status.PROCESSING, now
        return True

    def finish(self, result):
        """Store the result of a task this process is running; False if it was not "processing"."""
        done = SpeechTask.objects.filter(pk=self.pk, status=self.Status.PROCESSING)
        return done.update(status=self.Status.COMPLETED, result=result, progress=100, finished_at=timezone.now()) == 1

    def fail(self, message):
        """Record a failure (message safe to show the candidate); False if it was not "processing"."""
        failed = SpeechTask.objects.filter(pk=self.pk, status=self.Status.PROCESSING)
        return failed.update(status=self.Status.ERROR, error=message, finished_at=timezone.now()) == 1


# Which django-q2 cluster runs each kind of task.
CLUSTER_FOR_KIND = {SpeechTask.Kind.STT_BATCH: "stt", SpeechTask.Kind.TTS: "tts"}


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

