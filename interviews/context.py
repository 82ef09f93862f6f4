"""An interview as the plain data the engines read (they never touch the database)."""

from interviews.engine.base import AnsweredQuestion, InterviewContext, TurnView
from interviews.models import Turn


def build_context(interview):
    turns = engine_view(list(interview.turns.order_by("index")))
    main_asked = sum(1 for t in turns if t.kind in Turn.MAIN_QUESTION_KINDS)
    follow_ups = 0
    for t in reversed(turns):
        if t.kind in Turn.MAIN_QUESTION_KINDS:
            break
        if t.kind == Turn.Kind.FOLLOW_UP:
            follow_ups += 1
    return InterviewContext(
        job_role=interview.job_role,
        company=interview.company,
        job_description=interview.job_description,
        resume=interview.resume,
        style=interview.style,
        difficulty=interview.difficulty,
        length_mode=interview.length_mode,
        question_count=interview.question_count,
        duration_minutes=interview.duration_minutes,
        elapsed_seconds=interview.elapsed_seconds,
        transcript=[TurnView(t.speaker, t.kind, t.text) for t in turns],
        topics_covered=list(interview.topics_covered),
        main_questions_asked=main_asked,
        follow_ups_on_current=follow_ups,
        seed=interview.id.int % (2**31),
        interview_type=interview.interview_type,
        focus=interview.focus if isinstance(interview.focus, dict) else {},
    )


def engine_view(turns):
    """The turns as the engines see them: a question tried again (Interview.try_again)
    shows only its latest attempt, as if answered once, so question counts,
    follow-ups and the policy's rules are those of an interview without it."""
    kept = []
    for t in turns:
        if isinstance(t.decision, dict) and t.decision.get("action") == Turn.RETRY:
            if kept and kept[-1].speaker == Turn.Speaker.CANDIDATE:
                kept.pop()  # the attempt this one replaces
            continue
        kept.append(t)
    return kept


def answered_questions(interview):
    """Question, answer, scores and metrics for every answered question, in order.

    A question answered more than once counts once, by its best attempt
    (Turn.best_attempt): the report scores what the candidate can do."""
    questions = {t.index: t for t in interview.turns.filter(speaker=Turn.Speaker.INTERVIEWER)}
    items = []
    for attempts in interview.attempt_groups():
        t = Turn.best_attempt(attempts)
        question = questions.get(attempts[0].index - 1)
        feedback = getattr(t, "feedback", None)
        items.append(
            AnsweredQuestion(
                question=question.text if question else "",
                answer=t.text,
                scores=feedback.scores if feedback else {},
                metrics=feedback.metrics if feedback else {},
            )
        )
    return items
