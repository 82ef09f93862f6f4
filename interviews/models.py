"""Interviews, their turns and the coach's feedback.

All interview state lives here, in the database: any process can serve any
request, and a restarted server resumes exactly where an interview was.
"""

import logging
import math
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from interviews.engine.analysis import question_core
from interviews.engine.base import phase_for
from lib import metrics
from speech.models import SpeechTask

log = logging.getLogger(__name__)


class AnswerRejected(Exception):
    """The answer cannot be accepted; the message is safe to show the candidate."""


class Interview(models.Model):
    class Style(models.TextChoices):
        FORMAL = "formal", "Formal"
        CASUAL = "casual", "Casual"
        CHALLENGING = "challenging", "Challenging"
        TECHNICAL = "technical", "Technical"

    class Difficulty(models.TextChoices):
        EASY = "easy", "Easy"
        MEDIUM = "medium", "Medium"
        HARD = "hard", "Hard"

    class LengthMode(models.TextChoices):
        QUESTIONS = "questions", "Number of questions"
        MINUTES = "minutes", "Minutes"

    class Mode(models.TextChoices):
        PRACTICE = "practice", "Practice: feedback after each answer"
        REALISTIC = "realistic", "Realistic: all feedback in the report"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        ABANDONED = "abandoned", "Abandoned"

    class Type(models.TextChoices):
        MIXED = "mixed", "Mixed"
        BEHAVIOURAL = "behavioural", "Behavioural"
        TECHNICAL = "technical", "Technical"
        SITUATIONAL = "situational", "Situational"
        SCREEN = "screen", "Recruiter screen"

    class SummaryStatus(models.TextChoices):
        NONE = "none", "Not started"
        PENDING = "pending", "Queued"
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        ERROR = "error", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="interviews")
    job_role = models.CharField(max_length=120)
    company = models.CharField(max_length=120, blank=True)
    job_description = models.TextField(blank=True)
    resume = models.TextField(blank=True)
    style = models.CharField(max_length=20, choices=Style.choices, default=Style.FORMAL)
    difficulty = models.CharField(max_length=20, choices=Difficulty.choices, default=Difficulty.MEDIUM)
    length_mode = models.CharField(max_length=20, choices=LengthMode.choices, default=LengthMode.QUESTIONS)
    question_count = models.PositiveSmallIntegerField(default=5)
    duration_minutes = models.PositiveSmallIntegerField(default=15)
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.PRACTICE)
    interview_type = models.CharField(max_length=20, choices=Type.choices, default=Type.MIXED)
    # What a "drill my weak spots" or "practise this question" interview targets:
    # {"dimensions": [...], "terms": [...], "questions": [...]}; empty for a normal one.
    focus = models.JSONField(default=dict, blank=True)
    # Voice: the interviewer's turns are spoken aloud at this speed.
    speak_questions = models.BooleanField(default=False)
    speech_speed = models.FloatField(default=1.0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Seconds the candidate spent on questions (capped per question), so a
    # break between sessions does not eat a time-based interview's clock.
    elapsed_seconds = models.FloatField(default=0)
    # Topics the interviewer has covered, as it reported them.
    topics_covered = models.JSONField(default=list, blank=True)
    # Who is writing the interviewer's next turn: a lease, so a crashed process
    # does not block the interview forever.
    generating_until = models.DateTimeField(null=True, blank=True)
    generation_error = models.TextField(blank=True)
    summary = models.JSONField(null=True, blank=True)
    summary_status = models.CharField(max_length=20, choices=SummaryStatus.choices, default=SummaryStatus.NONE)
    summary_error = models.TextField(blank=True)
    overall_score = models.PositiveSmallIntegerField(null=True, blank=True)  # 0–100
    # Usage, measured on every model call.
    llm_name = models.CharField(max_length=120, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    llm_seconds = models.FloatField(default=0)
    llm_calls = models.PositiveIntegerField(default=0)
    llm_errors = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="interview_owner_recent"),
            models.Index(fields=["status", "updated_at"], name="interview_status_updated"),
        ]

    def __str__(self):
        return f"{self.job_role} ({self.get_status_display()})"

    def get_absolute_url(self):
        return reverse("interview_room", args=[self.id])

    def get_report_url(self):
        return reverse("interview_report", args=[self.id])

    # ----- reading state -----

    @property
    def is_active(self):
        return self.status == self.Status.ACTIVE

    @property
    def is_time_based(self):
        return self.length_mode == self.LengthMode.MINUTES

    @property
    def is_drill(self):
        """A "Drill my weak spots" interview (interviews.progress): its focus names weak dimensions."""
        return isinstance(self.focus, dict) and bool(self.focus.get("dimensions"))

    @property
    def duration_seconds(self):
        return self.duration_minutes * 60

    def _prefetched_turns(self):
        """The turns, if prefetched (see turns.room_fragments): the room's
        templates then ask all their questions of one query."""
        cached = getattr(self, "_prefetched_objects_cache", {}).get("turns")
        return None if cached is None else list(cached)

    def last_turn(self):
        known = self._prefetched_turns()
        if known is not None:
            return max(known, key=lambda t: t.index, default=None)
        return self.turns.order_by("-index").first()

    def main_questions_asked(self):
        known = self._prefetched_turns()
        if known is not None:
            return sum(1 for t in known if t.kind in Turn.MAIN_QUESTION_KINDS)
        return self.turns.filter(kind__in=Turn.MAIN_QUESTION_KINDS).count()

    def awaiting_answer(self):
        last = self.last_turn()
        return self.is_active and last is not None and last.speaker == Turn.Speaker.INTERVIEWER and last.kind != Turn.Kind.CLOSING

    def awaiting_interviewer(self):
        last = self.last_turn()
        return self.is_active and (last is None or last.speaker == Turn.Speaker.CANDIDATE)

    def progress(self):
        """What the room shows: question k of n, or minutes left with the phase."""
        asked = self.main_questions_asked()
        info = {"asked": asked, "time_based": self.is_time_based}
        if self.is_time_based:
            elapsed = self.elapsed_seconds
            last = self.last_turn()
            if self.awaiting_answer() and last:
                elapsed += min((timezone.now() - last.created_at).total_seconds(), ANSWER_CLOCK_CAP_SECONDS)
            fraction = min(elapsed / self.duration_seconds, 1.0) if self.duration_seconds else 1.0
            info.update(
                seconds_left=max(0, int(self.duration_seconds - elapsed)),
                fraction=fraction,
                phase=phase_for(fraction),
                percent=int(fraction * 100),
            )
        else:
            total = self.question_count
            info.update(total=total, percent=int(min(asked, total) / total * 100) if total else 100)
        return info

    # ----- changing state -----

    def claim_generation(self):
        """Take the lease on writing the next interviewer turn; True if ours."""
        now = timezone.now()
        claimed = (
            Interview.objects.filter(pk=self.pk, status=self.Status.ACTIVE)
            .filter(Q(generating_until__isnull=True) | Q(generating_until__lt=now))
            .update(
                generating_until=now + timedelta(seconds=settings.INTERVIEW_TURN_LEASE_SECONDS),
                generation_error="",
            )
        )
        return claimed == 1

    def renew_generation(self):
        Interview.objects.filter(pk=self.pk, generating_until__isnull=False).update(
            generating_until=timezone.now() + timedelta(seconds=settings.INTERVIEW_TURN_LEASE_SECONDS)
        )

    def release_generation(self, error=""):
        Interview.objects.filter(pk=self.pk).update(generating_until=None, generation_error=error[:500])

    def add_interviewer_turn(self, kind, text, decision=None, usage=None):
        """Append the interviewer's turn after the last one; closing ends the interview."""
        with transaction.atomic():
            interview = Interview.objects.select_for_update().get(pk=self.pk)
            last = interview.turns.order_by("-index").first()
            if last is not None and last.speaker == Turn.Speaker.INTERVIEWER:
                return last  # someone else already wrote it
            usage = usage or {}
            turn = Turn.objects.create(
                interview=interview,
                index=0 if last is None else last.index + 1,
                speaker=Turn.Speaker.INTERVIEWER,
                kind=kind,
                text=text,
                decision=decision or {},
                model_ms=usage.get("model_ms"),
                first_token_ms=usage.get("first_token_ms"),
                tokens_in=usage.get("tokens_in", 0),
                tokens_out=usage.get("tokens_out", 0),
            )
            topics = (decision or {}).get("topics") or []
            fields = {"generating_until": None, "generation_error": ""}
            if topics:
                fields["topics_covered"] = list(dict.fromkeys(interview.topics_covered + topics))[:50]
            if kind == Turn.Kind.CLOSING:
                fields.update(
                    status=self.Status.COMPLETED,
                    completed_at=timezone.now(),
                    summary_status=self.SummaryStatus.PENDING,
                )
            Interview.objects.filter(pk=self.pk).update(**fields)
        if last is None:
            metrics.interview_started()
        if kind == Turn.Kind.CLOSING:
            metrics.interview_completed()
        return turn

    def accept_answer(
        self, text, after_index, source="typed", speaking_seconds=None, audio_name="", thinking_seconds=None, ended_by=""
    ):
        """Save the candidate's answer to the question at `after_index`.

        Exactly one answer per question, however many tabs submit at once:
        the (interview, index) unique constraint decides the winner.
        How a spoken answer was given (speaking and thinking time, what sent
        it) comes from the page, so implausible values are dropped, not saved.
        """
        voice = Turn.voice_details(source, speaking_seconds, thinking_seconds, ended_by)
        text = (text or "").strip()
        if not text:
            raise AnswerRejected("Please write an answer before sending.")
        if len(text) > ANSWER_MAX_CHARS:
            raise AnswerRejected(f"Answers are limited to {ANSWER_MAX_CHARS:,} characters.")
        try:
            with transaction.atomic():
                question = self.turns.filter(index=after_index).first()
                fresh = Interview.objects.get(pk=self.pk)
                if fresh.status != self.Status.ACTIVE:
                    raise AnswerRejected("This interview has ended.")
                if question is None or question.speaker != Turn.Speaker.INTERVIEWER or question.kind == Turn.Kind.CLOSING:
                    raise AnswerRejected("There is no open question to answer.")
                response_seconds = min((timezone.now() - question.created_at).total_seconds(), ANSWER_CLOCK_CAP_SECONDS)
                turn = Turn.objects.create(
                    interview=fresh,
                    index=after_index + 1,
                    speaker=Turn.Speaker.CANDIDATE,
                    kind=Turn.Kind.ANSWER,
                    text=text,
                    source=source,
                    response_seconds=response_seconds,
                    audio=audio_name,
                    attempt_of_id=fresh.attempt_root(question),
                    **voice,
                )
                Interview.objects.filter(pk=self.pk).update(elapsed_seconds=F("elapsed_seconds") + response_seconds)
        except IntegrityError:
            raise AnswerRejected("This question has already been answered.") from None
        return turn

    # ----- trying a question again -----

    # Attempts at one question within one interview: the first answer and two more tries.
    MAX_ATTEMPTS = 3

    def attempt_root(self, question):
        """The first attempt that an answer to `question` tries again, or None.

        A question re-asked by try_again names it in its decision; a main
        question of a "practise this question" interview (or a drill) that
        repeats a question from focus names it there, and it must be an answer
        of this interview's owner: focus is data, so it is checked, not trusted.
        """
        decision = question.decision if isinstance(question.decision, dict) else {}
        if decision.get("action") == Turn.RETRY:
            return decision.get("attempt_of")
        if question.kind not in Turn.MAIN_QUESTION_KINDS:
            return None
        asked = _plain(question.text)
        for item in focus_questions(self.focus):
            if _plain(item["text"]) in asked:
                origin = Turn.objects.filter(
                    pk=item["from_turn"], speaker=Turn.Speaker.CANDIDATE, interview__owner_id=self.owner_id
                ).first()
                if origin is not None:
                    return origin.attempt_of_id or origin.pk
        return None

    def try_again(self, answer_id):
        """Practice mode: ask the question that answer `answer_id` replied to once
        more, so the next answer is another attempt at it (Turn.attempt_of).

        The interviewer's next question usually exists already (it starts as
        soon as an answer is in); while unanswered it is withdrawn, and after
        the attempt the interview carries on from there. Returns the new
        interviewer turn; raises AnswerRejected with a reason the page shows.
        """
        with transaction.atomic():
            interview = Interview.objects.select_for_update().get(pk=self.pk)
            if interview.mode != self.Mode.PRACTICE:
                raise AnswerRejected("In realistic mode there is no feedback until the end: practise a question from the report.")
            if interview.status != self.Status.ACTIVE:
                raise AnswerRejected("This interview has ended: practise a question from the report.")
            if interview.generating_until and interview.generating_until > timezone.now():
                raise AnswerRejected("The interviewer is still speaking; try again once the question is written.")
            answer = interview.turns.filter(pk=answer_id, speaker=Turn.Speaker.CANDIDATE).first()
            later = list(interview.turns.filter(index__gt=answer.index)) if answer else []
            withdrawn = later[0] if len(later) == 1 and later[0].is_question else None
            if answer is None or len(later) > (1 if withdrawn else 0):
                raise AnswerRejected("Only the latest answer can be tried again.")
            root = answer.attempt_of_id or answer.pk
            if interview.turns.filter(Q(pk=root) | Q(attempt_of_id=root)).count() >= self.MAX_ATTEMPTS:
                raise AnswerRejected(f"You have answered this question {self.MAX_ATTEMPTS} times; the interview moves on.")
            question = interview.turns.get(index=answer.index - 1)
            if withdrawn is not None:
                withdrawn.delete()
            turn = Turn.objects.create(
                interview=interview,
                index=answer.index + 1,
                speaker=Turn.Speaker.INTERVIEWER,
                kind=Turn.Kind.FOLLOW_UP,
                text=f"Let's try that one again. {question_core(question.text)}",
                decision={
                    "action": Turn.RETRY,
                    "attempt_of": root,
                    "justification": "The candidate asked to answer this question again.",
                    "topics": [],
                },
            )
            Interview.objects.filter(pk=self.pk).update(generating_until=None, generation_error="")
        return turn

    def practise_question(self, answer):
        """A new practice interview of one question: the one `answer` (a turn of
        this interview) replied to, whose answer will be an attempt linked to it."""
        question = self.turns.filter(index=answer.index - 1).first()
        text = question_core(question.text if question else "")[:FOCUS_QUESTION_MAX_CHARS]
        return Interview.objects.create(
            owner_id=self.owner_id,
            job_role=self.job_role,
            company=self.company,
            job_description=self.job_description,
            resume=self.resume,
            style=self.style,
            difficulty=self.difficulty,
            interview_type=self.interview_type,
            length_mode=self.LengthMode.QUESTIONS,
            question_count=1,
            mode=self.Mode.PRACTICE,
            speak_questions=self.speak_questions,
            speech_speed=self.speech_speed,
            focus={"questions": [{"text": text, "from_turn": answer.attempt_of_id or answer.pk}]},
        )

    def attempt_groups(self):
        """The candidate's answers grouped by question, in order: each group lists
        the attempts at one question (a try again joins the answer it retries).
        The answers come with their feedback."""
        groups = {}
        for answer in self.turns.filter(speaker=Turn.Speaker.CANDIDATE).select_related("feedback").order_by("index"):
            groups.setdefault(answer.attempt_of_id or answer.pk, []).append(answer)
        return list(groups.values())

    def end_early(self):
        """The candidate ends the interview: it completes and its report is built."""
        updated = Interview.objects.filter(pk=self.pk, status=self.Status.ACTIVE).update(
            status=self.Status.COMPLETED,
            completed_at=timezone.now(),
            generating_until=None,
            summary_status=self.SummaryStatus.PENDING,
        )
        if updated:
            metrics.interview_completed()
        return updated == 1

    def mark_abandoned(self):
        # updated_at is set by hand: update() skips auto_now, and the staff dashboard counts by it.
        return Interview.objects.filter(pk=self.pk, status=self.Status.ACTIVE).update(status=self.Status.ABANDONED, updated_at=timezone.now()) == 1

    def record_usage(self, usage):
        if not usage:
            return
        Interview.objects.filter(pk=self.pk).update(
            tokens_in=F("tokens_in") + usage.get("tokens_in", 0),
            tokens_out=F("tokens_out") + usage.get("tokens_out", 0),
            llm_seconds=F("llm_seconds") + usage.get("model_ms", 0) / 1000,
            llm_calls=F("llm_calls") + usage.get("calls", 0),
            llm_errors=F("llm_errors") + usage.get("errors", 0),
        )

    # ----- deleting, files included -----

    # Folders under MEDIA_ROOT named after the interview; they hold only its
    # files: uploaded recordings (attached to an answer or not) and its speech.
    MEDIA_FOLDERS = ("uploads", "tts")

    def delete_with_files(self):
        """Delete the interview and, once that commits, every file of it."""
        with transaction.atomic():
            Interview.delete_files_on_commit(Interview.objects.filter(pk=self.pk))
            self.delete()

    @classmethod
    def delete_files_on_commit(cls, interviews):
        """Call inside the transaction that deletes `interviews` (a queryset),
        before the delete: when it commits, their files and folders go too.
        Files are removed only after the commit, so a rollback loses nothing."""
        paths = cls.media_paths(interviews)
        transaction.on_commit(lambda: cls.delete_media(paths))

    @classmethod
    def media_paths(cls, interviews):
        """Every file and folder of these interviews, relative to MEDIA_ROOT."""
        paths = {f"{folder}/{pk}" for pk in interviews.values_list("pk", flat=True) for folder in cls.MEDIA_FOLDERS}
        # Outside those folders: recordings saved through Turn.audio's
        # upload_to, and speech cached before the cache was kept per interview.
        paths.update(Turn.objects.filter(interview__in=interviews).exclude(audio="").values_list("audio", flat=True))
        task_paths = SpeechTask.objects.filter(interview__in=interviews).values_list("result__path", flat=True)
        paths.update(path for path in task_paths if isinstance(path, str) and path)
        return sorted(paths)

    @staticmethod
    def delete_media(paths):
        """Remove these files and folders (relative to MEDIA_ROOT), and folders left empty."""
        root = Path(settings.MEDIA_ROOT).resolve()
        for relative in paths:
            target = (root / relative).resolve()
            if root not in target.parents:
                log.warning("not deleting %s: outside MEDIA_ROOT", relative)
                continue
            try:
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not delete %s: %s", relative, exc)
                continue
            # e.g. answers/2025/05/ once its last recording is gone; the top
            # folders (uploads/, tts/, answers/) stay.
            parent = target.parent
            while parent.parent != root:
                try:
                    parent.rmdir()
                except OSError:
                    break  # not empty
                parent = parent.parent


ANSWER_MAX_CHARS = 10_000
# A question practised again is stored in Interview.focus, at most this long.
FOCUS_QUESTION_MAX_CHARS = 500


def focus_questions(focus):
    """The well-formed {"text", "from_turn"} items of a focus's "questions" (at most 10)."""
    items = focus.get("questions") if isinstance(focus, dict) else None
    if not isinstance(items, list):
        return []
    return [
        item
        for item in items[:10]
        if isinstance(item, dict) and isinstance(item.get("text"), str) and item["text"].strip()
        and isinstance(item.get("from_turn"), int) and not isinstance(item.get("from_turn"), bool)
    ]


def _plain(text):
    """Text with its spacing and case evened out, for comparing questions."""
    return " ".join((text or "")[:ANSWER_MAX_CHARS].split()).lower()

# One question never takes more than this much of a time-based interview's clock.
ANSWER_CLOCK_CAP_SECONDS = 600
# No single answer speaks or thinks for longer than this; a bigger figure is not real.
VOICE_SECONDS_MAX = 3600


def _plausible_seconds(value):
    """`value` if it is a finite number of seconds in 0..VOICE_SECONDS_MAX, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and 0 <= value <= VOICE_SECONDS_MAX else None


class Turn(models.Model):
    class Speaker(models.TextChoices):
        INTERVIEWER = "interviewer", "Interviewer"
        CANDIDATE = "candidate", "Candidate"

    class Kind(models.TextChoices):
        INTRODUCTION = "introduction", "Introduction"
        QUESTION = "question", "Question"
        FOLLOW_UP = "follow_up", "Follow-up"
        CLOSING = "closing", "Closing"
        ANSWER = "answer", "Answer"

    class Source(models.TextChoices):
        TYPED = "typed", "Typed"
        LIVE_VOICE = "live_voice", "Live voice"
        UPLOADED_AUDIO = "uploaded_audio", "Uploaded audio"

    class EndedBy(models.TextChoices):
        """What sent a spoken answer: the turn detector, the candidate, or the long wait."""

        MODEL = "model", "Turn detector"
        BUTTON = "button", "I'm done"
        TIMEOUT = "timeout", "Long timeout"

    # The introduction carries the first main question.
    MAIN_QUESTION_KINDS = [Kind.INTRODUCTION, Kind.QUESTION]
    # decision["action"] of a question asked again by Interview.try_again.
    RETRY = "retry"

    id = models.BigAutoField(primary_key=True)
    interview = models.ForeignKey(Interview, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveIntegerField()
    speaker = models.CharField(max_length=20, choices=Speaker.choices)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.TextField()
    source = models.CharField(max_length=20, choices=Source.choices, blank=True)
    audio = models.FileField(upload_to="answers/%Y/%m/", blank=True)
    # Interviewer turns: what the model decided and why, and what it cost.
    decision = models.JSONField(default=dict, blank=True)
    model_ms = models.PositiveIntegerField(null=True, blank=True)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    # Candidate turns: how long the question was open before the answer came.
    response_seconds = models.FloatField(null=True, blank=True)
    speaking_seconds = models.FloatField(null=True, blank=True)
    # Spoken answers: the pauses inside the answer, which never count against pace.
    thinking_seconds = models.FloatField(null=True, blank=True)
    ended_by = models.CharField(max_length=20, choices=EndedBy.choices, blank=True)
    # A second try at a question: the first attempt's answer turn.
    # SET_NULL: a later "practise this question" interview keeps its own
    # answers when the original is deleted, whichever way (app, admin, account).
    attempt_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["index"]
        constraints = [
            models.UniqueConstraint(fields=["interview", "index"], name="turn_unique_index_per_interview"),
        ]

    def __str__(self):
        return f"#{self.index} {self.speaker}: {self.text[:40]}"

    @property
    def is_question(self):
        return self.speaker == self.Speaker.INTERVIEWER and self.kind != self.Kind.CLOSING

    @staticmethod
    def best_attempt(attempts):
        """The attempt with the highest average score (the later one on a tie;
        an attempt without ready feedback counts lowest)."""

        def average(turn):
            feedback = getattr(turn, "feedback", None)
            ready = feedback is not None and feedback.status == Feedback.Status.READY
            return (ready and feedback.average_score()) or 0

        return max(reversed(attempts), key=average)

    def can_try_again(self):
        """Whether the room offers "Try this question again" on this answer: practice
        mode, the interview still on, the latest answer, attempts left. Interview.try_again decides."""
        interview = self.interview
        if interview.mode != Interview.Mode.PRACTICE or not interview.is_active or self.speaker != self.Speaker.CANDIDATE:
            return False
        last = interview.last_turn()
        latest = last is not None and (last.pk == self.pk or (last.index == self.index + 1 and last.is_question))
        if not latest:
            return False
        root = self.attempt_of_id or self.pk
        known = interview._prefetched_turns()  # the room's fragments: no query per render
        if known is not None:
            attempts = sum(1 for t in known if root in (t.pk, t.attempt_of_id))
        else:
            attempts = interview.turns.filter(Q(pk=root) | Q(attempt_of_id=root)).count()
        return attempts < Interview.MAX_ATTEMPTS

    @classmethod
    def voice_details(cls, source, speaking_seconds=None, thinking_seconds=None, ended_by=""):
        """The timing fields of a candidate turn, as saved: typed answers have
        none, only a live answer has something that ended it, and anything
        implausible (negative, NaN, infinite, over an hour) is dropped."""
        spoken = source in (cls.Source.LIVE_VOICE, cls.Source.UPLOADED_AUDIO)
        speaking = _plausible_seconds(speaking_seconds) if spoken else None
        return {
            "speaking_seconds": speaking or None,  # no speech is no figure: pace needs a real one
            "thinking_seconds": _plausible_seconds(thinking_seconds) if spoken else None,
            "ended_by": ended_by if source == cls.Source.LIVE_VOICE and ended_by in cls.EndedBy.values else "",
        }


class Feedback(models.Model):
    """The coach's view of one answer: rubric scores with evidence, and metrics."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        ERROR = "error", "Failed"

    turn = models.OneToOneField(Turn, on_delete=models.CASCADE, related_name="feedback")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    # {"relevance": {"score": 4, "evidence": "quote from the answer", "note": "…"}, …}
    scores = models.JSONField(default=dict, blank=True)
    # Deterministic analysis: words, wpm, fillers, STAR parts, numbers, JD terms…
    metrics = models.JSONField(default=dict, blank=True)
    strengths = models.JSONField(default=list, blank=True)
    improvements = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True)
    # "A stronger answer, from your own facts": the answer restructured, with
    # visible placeholders where a part is missing.
    rewrite = models.TextField(blank=True)
    source = models.CharField(max_length=120, blank=True)  # "local" or the model's name
    model_ms = models.PositiveIntegerField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def average_score(self):
        values = [v["score"] for v in self.scores.values() if isinstance(v, dict) and v.get("score")]
        return round(sum(values) / len(values), 1) if values else None
