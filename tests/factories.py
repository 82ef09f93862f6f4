"""Small builders for interviews in a given state."""

from interviews.models import Feedback, Interview, Turn


def make_interview(owner, **fields):
    defaults = dict(job_role="Backend Engineer", company="Acme", job_description="Python, PostgreSQL, Kubernetes", question_count=3)
    defaults.update(fields)
    return Interview.objects.create(owner=owner, **defaults)


def ask(interview, text="Tell me about a project you led.", kind=Turn.Kind.QUESTION):
    return interview.add_interviewer_turn(kind, text)


def answered(owner, answers=("I led the migration and cut costs by 30%.",), **fields):
    """An interview with an introduction and the given answers, the last one awaiting a question."""
    interview = make_interview(owner, **fields)
    ask(interview, "Hello! First question: tell me about yourself.", Turn.Kind.INTRODUCTION)
    for i, text in enumerate(answers):
        last = interview.last_turn()
        interview.accept_answer(text, last.index)
        if i < len(answers) - 1:
            ask(interview, f"Next question {i + 2}?")
    return interview


def ready_feedback(turn, score=4):
    scores = {d: {"score": score, "evidence": turn.text[:30], "note": "n"} for d in ("relevance", "structure", "specificity", "communication", "role_fit")}
    return Feedback.objects.create(turn=turn, status=Feedback.Status.READY, scores=scores, metrics={"words": 10, "filler_count": 1, "jd_terms_covered": ["python"], "jd_terms_missed": ["kubernetes"]}, text="Good.")
