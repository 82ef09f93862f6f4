import uuid

from django.db import models
from django.utils import timezone


class SpeechTask(models.Model):
    """One batch transcription or speech synthesis job, tracked for the page."""

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


class CapSlot(models.Model):
    """One of a provider's concurrent-call slots, for lib.caps without Redis.

    Free when `holder` is empty or the lease (`expires_at`) has run out; rows
    0..limit-1 are created on demand and claimed with a conditional UPDATE.
    """

    name = models.CharField(max_length=60)
    slot = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "slot"], name="capslot_name_slot_unique")]

    def __str__(self):
        return f"{self.name}[{self.slot}]"
