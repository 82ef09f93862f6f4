"""An interview as a plain JSON-ready dict, with its turns and their feedback.

Used by the candidate's data export (accounts), the report's JSON download and
the admin's export action. Internal bookkeeping (generation leases, error
traces) is left out; everything the candidate wrote or was told is in.
"""


def when(value):
    """A datetime as ISO 8601, or None."""
    return value.isoformat() if value else None


def feedback_as_dict(feedback):
    return {
        "status": feedback.status,
        "average_score": feedback.average_score(),
        "scores": feedback.scores,
        "metrics": feedback.metrics,
        "strengths": feedback.strengths,
        "improvements": feedback.improvements,
        "text": feedback.text,
        # "A stronger answer, from your own facts": one line per part, placeholders in [square brackets].
        "rewrite": feedback.rewrite,
        "source": feedback.source,
        "model_ms": feedback.model_ms,
        "tokens_in": feedback.tokens_in,
        "tokens_out": feedback.tokens_out,
        "created_at": when(feedback.created_at),
    }


def turn_as_dict(turn):
    feedback = getattr(turn, "feedback", None)  # absent for questions and pending answers
    return {
        "id": turn.pk,
        "index": turn.index,
        # Another try at a question: the id of the first attempt's answer (maybe in another interview).
        "attempt_of": turn.attempt_of_id,
        "speaker": turn.speaker,
        "kind": turn.kind,
        "text": turn.text,
        "source": turn.source,
        "audio": turn.audio.name or None,
        "decision": turn.decision,
        "created_at": when(turn.created_at),
        "response_seconds": turn.response_seconds,
        "speaking_seconds": turn.speaking_seconds,
        "thinking_seconds": turn.thinking_seconds,
        "ended_by": turn.ended_by,
        "model_ms": turn.model_ms,
        "first_token_ms": turn.first_token_ms,
        "tokens_in": turn.tokens_in,
        "tokens_out": turn.tokens_out,
        "feedback": feedback_as_dict(feedback) if feedback else None,
    }


def interview_as_dict(interview):
    return {
        "id": str(interview.id),
        "job_role": interview.job_role,
        "company": interview.company,
        "job_description": interview.job_description,
        "resume": interview.resume,
        "interview_type": interview.interview_type,
        "style": interview.style,
        "difficulty": interview.difficulty,
        "length_mode": interview.length_mode,
        "question_count": interview.question_count,
        "duration_minutes": interview.duration_minutes,
        "mode": interview.mode,
        "status": interview.status,
        "created_at": when(interview.created_at),
        "updated_at": when(interview.updated_at),
        "completed_at": when(interview.completed_at),
        "elapsed_seconds": interview.elapsed_seconds,
        "topics_covered": interview.topics_covered,
        "summary_status": interview.summary_status,
        "summary": interview.summary,
        "overall_score": interview.overall_score,
        "usage": {
            "llm_name": interview.llm_name,
            "tokens_in": interview.tokens_in,
            "tokens_out": interview.tokens_out,
            "llm_seconds": interview.llm_seconds,
            "llm_calls": interview.llm_calls,
            "llm_errors": interview.llm_errors,
        },
        "turns": [turn_as_dict(turn) for turn in interview.turns.all()],
    }
