"""The coach, for one answer: measure it, score it, store the feedback.

The one coach path: the turn pipeline runs it after each answer, and the
report runs it for any answer left without feedback (the last one, or one
whose coach crashed). The caller passes the engine, so each keeps choosing
its own (and tests replace it there).
"""

import logging

from interviews.context import build_context
from interviews.engine.analysis import analyse
from interviews.engine.base import EngineError
from interviews.engine.local import LocalEngine
from interviews.models import Feedback, Turn

log = logging.getLogger(__name__)


def prepare(turn_id):
    """(interview, answer, question text, metrics, context) for an answer still to coach,
    or None if its feedback is ready. Creates the pending Feedback row."""
    answer = Turn.objects.select_related("interview").get(pk=turn_id)
    interview = answer.interview
    question = interview.turns.filter(index=answer.index - 1).first()
    question_text = question.text if question else ""
    metrics = analyse(
        question_text,
        answer.text,
        interview.job_description,
        interview.job_role,
        speaking_seconds=answer.speaking_seconds,
    )
    feedback, _ = Feedback.objects.get_or_create(turn=answer, defaults={"metrics": metrics})
    if feedback.status == Feedback.Status.READY:
        return None
    return interview, answer, question_text, metrics, build_context(interview)


async def coach(engine, answer, question_text, metrics, ctx):
    """The coach's result for one answer; the local coach stands in if the model fails."""
    try:
        return await engine.coach(ctx, question_text, answer, metrics)
    except EngineError as exc:
        log.warning("model coach failed, using the local coach: %s", exc)
        result = await LocalEngine().coach(ctx, question_text, answer, metrics)
        result.source = "local (model unavailable)"
        return result


def save(turn_id, metrics, result):
    """Store the result as the answer's ready feedback; returns the turn, feedback loaded."""
    usage = result.usage
    Feedback.objects.filter(turn_id=turn_id).update(
        status=Feedback.Status.READY,
        scores=result.scores,
        metrics=metrics,
        strengths=result.strengths,
        improvements=result.improvements,
        text=result.text,
        rewrite=result.rewrite,
        source=result.source,
        model_ms=usage.model_ms or None,
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
    )
    turn = Turn.objects.select_related("interview", "feedback").get(pk=turn_id)
    turn.interview.record_usage(usage.as_dict())
    return turn
