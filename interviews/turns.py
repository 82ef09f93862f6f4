"""Running an interview turn: the interviewer's next words and the coach's feedback.

These coroutines run on the web process's event loop. Every database call goes
through database_sync_to_async and every model call is async, so one slow
model never stalls other candidates. Progress is pushed to the interview's
channel-layer group, so every tab of the interview, on any web process,
sees the same stream.
"""

import asyncio
import contextvars
import logging
import time

from channels.db import database_sync_to_async as _database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.template.loader import render_to_string
from django.urls import reverse

from interviews import coaching
from interviews.context import build_context
from interviews.engine import get_engine
from interviews.engine.base import Decision, EngineError, Usage
from interviews.engine.policy import KIND_FOR_ACTION, allowed_actions, coerce
from interviews.models import Interview, Turn
from lib import metrics, resilience
from speech.sentences import SentenceSplitter
from speech.tts import queue_sentence

log = logging.getLogger(__name__)


def database_sync_to_async(fn):
    """Channels' wrapper (it closes stale connections around the call), on the
    shared thread pool rather than the process's single sync thread: many
    interviews' turns must not queue behind one another for the database."""
    return _database_sync_to_async(fn, thread_sensitive=False)

# Background turns are tasks on the running loop; asyncio keeps only weak
# references to tasks, so hold them here until they finish. Holds no user data.
_running = set()


def schedule(coro):
    """Run `coro` in the background on the current event loop.

    It runs in a fresh context: a task started by an HTTP request must not
    inherit that request's sync-thread executor, which asgiref shuts down
    when the response is sent (its ORM calls would then fail).
    """
    task = asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


def group_name(interview_id):
    return f"interview.{interview_id}"


# A process writing a turn renews its lease this often, so a short lease
# (INTERVIEW_TURN_LEASE_SECONDS) still covers a long answer.
LEASE_RENEW_SECONDS = 10


async def publish(interview_id, event):
    """Send `event` (a dict with an "event" key) to every socket of this interview.

    After Redis restarts, the layer's pooled connections are dead and the first
    command on each fails although Redis is back: try again, on a fresh
    connection (lib.resilience.PUBLISH_RETRIES times), before giving up with
    the error.
    """
    layer = get_channel_layer()
    message = {"type": "room.event", "payload": event}
    await resilience.aretry(
        lambda: layer.group_send(group_name(interview_id), message),
        retries=resilience.PUBLISH_RETRIES,
        retry_if=resilience.is_channel_layer_transient,
        what=f"publish to {interview_id}",
        base=resilience.PUBLISH_BACKOFF_BASE_SECONDS,
    )


# What the progress bar and the answer area read of each turn (Interview.progress,
# last_turn, awaiting_answer, the count): not the texts, which grow with the transcript.
ROOM_STATE_FIELDS = ("id", "interview_id", "index", "speaker", "kind", "created_at")


def room_fragments(interview, turn=None, all_turns=False):
    """The HTML the room swaps in after a change: progress, answer area, and a turn
    (or, for a socket that has just (re)connected, every turn, so nothing missed
    while it was away stays missing)."""
    if "turns" not in getattr(interview, "_prefetched_objects_cache", {}):
        # One query for the turns; the templates' counts and "last turn" use it.
        # Only a reconnecting socket needs every turn's text and feedback.
        turns = Turn.objects.order_by("index")
        turns = turns.select_related("feedback") if all_turns else turns.only(*ROOM_STATE_FIELDS)
        prefetch_related_objects([interview], Prefetch("turns", queryset=turns))
    fragments = {
        "progress": render_to_string("interviews/partials/progress.html", {"interview": interview}),
        "answer_area": render_to_string("interviews/partials/answer_area.html", {"interview": interview}),
    }
    if turn is not None:
        turn = _with_feedback(interview, turn)
        fragments["turn_index"] = turn.index
        fragments["turn"] = render_to_string("interviews/partials/turn.html", {"turn": turn, "interview": interview})
    if all_turns:
        fragments["turns"] = [
            {"index": t.index, "html": render_to_string("interviews/partials/turn.html", {"turn": t, "interview": interview})}
            for t in interview.turns.all()
        ]
    return fragments


def _with_feedback(interview, turn):
    """`turn` with its feedback loaded (the turn partial shows it), without a query if already there."""
    known = next((t for t in interview.turns.all() if t.pk == turn.pk), None)
    if known is not None and not known.get_deferred_fields():
        return known
    if Turn.feedback.is_cached(turn):
        return turn
    return Turn.objects.select_related("feedback").get(pk=turn.pk)


@database_sync_to_async
def _claim_and_prepare(interview_id):
    interview = Interview.objects.filter(pk=interview_id).first()
    if interview is None or not interview.awaiting_interviewer():
        return None
    if not interview.claim_generation():
        return None
    # (speed, index of the turn to write): the engines' transcript may be
    # shorter than the interview's turns (context.engine_view).
    last = interview.last_turn()
    voice = (interview.speech_speed, last.index + 1 if last else 0) if interview.speak_questions else None
    return build_context(interview), voice


@database_sync_to_async
def _save_turn(interview_id, decision, text, usage):
    # One transaction: the turn, the lease's release and the usage counters are committed together.
    with transaction.atomic():
        interview = Interview.objects.get(pk=interview_id)
        turn = interview.add_interviewer_turn(
            KIND_FOR_ACTION[decision.action],
            text,
            decision={"action": decision.action, "justification": decision.justification, "topics": decision.topics},
            usage=usage.as_dict(),
        )
        interview.record_usage(usage.as_dict())
    interview.refresh_from_db()
    return interview, turn, room_fragments(interview, turn)


@database_sync_to_async
def _fail_turn(interview_id, message, usage):
    interview = Interview.objects.get(pk=interview_id)
    interview.release_generation(message)
    interview.record_usage(usage.as_dict())
    interview.refresh_from_db()
    return room_fragments(interview)


async def run_interviewer_turn(interview_id, on_first_words=None):
    """Write and stream the interviewer's next turn, if one is due and no one else is writing it.

    on_first_words(), if given, is called once the turn's first words have been
    sent to the room.
    """
    claimed_at = time.monotonic()  # for the latency metrics: claim to save
    first_token_at = None
    prepared = await _claim_and_prepare(interview_id)
    if prepared is None:
        return None
    ctx, voice = prepared
    engine = get_engine()
    allowed = allowed_actions(ctx)
    decision, parts, usage = None, [], Usage()
    max_chars, written = settings.INTERVIEW_TURN_MAX_CHARS, 0
    speaker = Speaker(interview_id, voice[1], voice[0]) if voice else None
    relay = TokenRelay(interview_id)
    renewed_at = time.monotonic()
    try:
        # Inside the try: whatever fails from here on (Redis or the database
        # restarting, say) releases the lease and offers Retry, rather than
        # leaving the lease held, and the room waiting, for INTERVIEW_TURN_LEASE_SECONDS.
        await publish(interview_id, {"event": "turn.started"})
        stream = engine.stream_turn(ctx, allowed)
        async for item in stream:
            if isinstance(item, Decision):
                item.action = coerce(item.action, allowed)
                decision = item
            elif isinstance(item, Usage):
                usage = item
            elif item:
                if written >= max_chars:
                    break  # a runaway turn: keep what fits, stop the engine
                item = item[: max_chars - written]
                written += len(item)
                parts.append(item)
                await relay.add(item)
                if first_token_at is None:
                    first_token_at = time.monotonic()
                    if on_first_words:
                        on_first_words()
                if speaker:
                    await speaker.feed(item)
                if time.monotonic() - renewed_at > LEASE_RENEW_SECONDS:
                    renewed_at = time.monotonic()
                    await database_sync_to_async(Interview(pk=interview_id).renew_generation)()
        await stream.aclose()
        await relay.flush()
        if speaker:
            await speaker.flush()
        text = "".join(parts).strip()
        if decision is None or not text:
            raise EngineError("The interviewer gave an empty reply. Please retry.")
        interview, turn, fragments = await _save_turn(interview_id, decision, text, usage)
    except EngineError as exc:
        log.warning("interviewer turn failed for %s: %s", interview_id, exc)
        fragments = await _fail_turn(interview_id, str(exc), getattr(exc, "usage", None) or usage)
        await publish_quietly(interview_id, {"event": "turn.failed", "message": str(exc), **fragments})
        return None
    except Exception:
        log.exception("interviewer turn crashed for %s", interview_id)
        message = "Something went wrong while writing the next question. Please retry."
        fragments = await _fail_turn(interview_id, message, usage)
        await publish_quietly(interview_id, {"event": "turn.failed", "message": message, **fragments})
        return None
    metrics.observe_turn(
        time.monotonic() - claimed_at,
        usage.model_ms / 1000,
        first_token_seconds=first_token_at - claimed_at if first_token_at else None,
    )
    # The turn is saved: from here a lost message only delays the page, which
    # resyncs from the database when its socket reconnects.
    await publish_quietly(interview_id, {"event": "turn.done", **fragments})
    if turn.kind == Turn.Kind.CLOSING:
        await database_sync_to_async(enqueue_report)(interview_id)
        await publish_quietly(interview_id, {"event": "interview.completed", "report_url": interview_report_url(interview_id)})
    return turn


async def run_turn_when_lease_expires(interview_id, seconds):
    """Start the turn now, or (after a crash mid-turn left a dead process's
    lease behind) once that lease lapses. Harmless if someone else wrote it."""
    if seconds > 0:
        await asyncio.sleep(seconds + 0.5)
    await run_interviewer_turn(interview_id)


class TokenRelay:
    """Sends streamed text to the room: the first piece at once, then at most one
    message per BATCH_SECONDS, so a fast model cannot flood the channel layer.
    Best effort: a lost piece only costs the live preview, since turn.done
    carries the whole turn."""

    BATCH_SECONDS = 0.05

    def __init__(self, interview_id):
        self.interview_id = interview_id
        self.pending = []
        self.sent_at = None

    async def add(self, text):
        self.pending.append(text)
        if self.sent_at is None or time.monotonic() - self.sent_at >= self.BATCH_SECONDS:
            await self.flush()

    async def flush(self):
        if not self.pending:
            return
        text, self.pending = "".join(self.pending), []
        self.sent_at = time.monotonic()
        await publish_quietly(self.interview_id, {"event": "turn.token", "text": text})


async def publish_quietly(interview_id, event):
    """publish(), logging instead of raising: for messages whose loss the page recovers from."""
    try:
        await publish(interview_id, event)
    except Exception as exc:
        log.warning("could not publish %s to %s: %s", event.get("event"), interview_id, exc)


class Speaker:
    """Speaks a streaming turn sentence by sentence: each complete sentence
    becomes a TTS task at once, so the first plays while the rest is written."""

    def __init__(self, interview_id, turn_index, speed):
        self.interview_id, self.turn_index, self.speed = interview_id, turn_index, speed
        self.splitter = SentenceSplitter()
        self.seq = 0

    async def feed(self, chunk):
        for sentence in self.splitter.feed(chunk):
            await self._speak(sentence)

    async def flush(self):
        for sentence in self.splitter.flush():
            await self._speak(sentence)

    async def _speak(self, sentence):
        if self.seq >= settings.INTERVIEW_TURN_MAX_SENTENCES:
            return  # the turn still shows in full; only its voice stops here
        try:
            task = await database_sync_to_async(queue_sentence)(
                self.interview_id, sentence, self.speed, self.turn_index, self.seq
            )
        except Exception:
            # The text is what matters; a voice failure must not lose the turn.
            log.exception("could not queue speech for %s", self.interview_id)
            return
        url = reverse("speech_task_audio", args=[task.id])
        await publish(self.interview_id, {"event": "speech.sentence", "seq": self.seq, "turn_index": self.turn_index, "url": url})
        self.seq += 1


def interview_report_url(interview_id):
    return reverse("interview_report", args=[interview_id])


def enqueue_report(interview_id):
    from django_q.tasks import async_task

    async_task("interviews.tasks.build_report", str(interview_id), task_name=f"report-{interview_id}")


# ----- the coach -----


async def run_coach(turn_id):
    prepared = await database_sync_to_async(coaching.prepare)(turn_id)
    if prepared is None:
        return
    interview, answer, question_text, metrics, ctx = prepared
    result = await coaching.coach(get_engine(), answer.text, question_text, metrics, ctx)
    html = await _save_feedback(turn_id, metrics, result)
    if html:
        await publish(interview.id, {"event": "feedback.ready", "turn_index": answer.index, "html": html})


@database_sync_to_async
def _save_feedback(turn_id, metrics, result):
    """Store the feedback; in practice mode, the HTML the room shows for it."""
    turn = coaching.save(turn_id, metrics, result)
    if turn.interview.mode != Interview.Mode.PRACTICE:
        return None
    return render_to_string("interviews/partials/feedback.html", {"feedback": turn.feedback})


async def after_answer(interview_id, turn_id):
    """What follows an accepted answer: the next question, and the coach.

    The candidate is waiting for the next question's first words, not for the
    feedback: the coach starts once those words are on their way (or the turn
    has ended without any), so its work does not compete with the start of
    the turn for the process's one core. The feedback follows a moment later.
    """
    under_way = asyncio.Event()

    async def interviewer():
        try:
            return await run_interviewer_turn(interview_id, on_first_words=under_way.set)
        finally:
            under_way.set()

    async def coach():
        await under_way.wait()
        return await run_coach(turn_id)

    results = await asyncio.gather(interviewer(), coach(), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            log.error("after-answer work failed for %s", interview_id, exc_info=result)
