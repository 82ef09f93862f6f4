"""What every interviewer/coach engine receives and returns.

Engines are plain objects with three async methods:

    stream_turn(ctx, allowed) -> async iterator yielding, in order:
        one Decision, then the turn's text as str chunks, then one Usage
    coach(ctx, question, answer, metrics) -> CoachResult
    report(ctx, answered) -> ReportNarrative

`allowed` comes from engine.policy and is binding: an engine may only choose
an action in it. Engines never touch the database; the caller turns their
output into rows. The methods run on the web process's event loop, which
serves every other candidate too: CPU work (text analysis) goes to a thread
(asyncio.to_thread), never inline. The local engine is interviews.engine.local.LocalEngine,
the model-backed one interviews.engine.llm.LLMEngine.
"""

from dataclasses import asdict, dataclass, field

INTRODUCE = "introduce"
FOLLOW_UP = "follow_up"
NEW_QUESTION = "new_question"
CLOSE = "close"
ACTIONS = (INTRODUCE, FOLLOW_UP, NEW_QUESTION, CLOSE)

# The coach's rubric, in display order, with the label the pages show.
DIMENSION_LABELS = {
    "relevance": "Relevance",
    "structure": "Structure (STAR)",
    "specificity": "Specificity & outcomes",
    "communication": "Communication",
    "role_fit": "Role fit",
}
DIMENSIONS = tuple(DIMENSION_LABELS)

# An interview's phases by the fraction of it done: (below this fraction, phase).
PHASES = ((0.2, "opening"), (0.6, "exploration"), (0.8, "deepening"))


def phase_for(fraction):
    for limit, name in PHASES:
        if fraction < limit:
            return name
    return "closing"


def score_of(scores, dim):
    """One dimension's score from a Feedback.scores-shaped dict, or None."""
    value = (scores or {}).get(dim)
    if isinstance(value, dict):
        value = value.get("score")
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class TurnView:
    speaker: str  # "interviewer" or "candidate"
    kind: str  # introduction, question, follow_up, closing, answer
    text: str


@dataclass
class InterviewContext:
    """Everything an engine may know about an interview, as plain data."""

    job_role: str
    company: str = ""
    job_description: str = ""
    resume: str = ""
    style: str = "formal"  # formal, casual, challenging, technical
    difficulty: str = "medium"  # easy, medium, hard
    length_mode: str = "questions"  # questions or minutes
    question_count: int = 5
    duration_minutes: int = 15
    elapsed_seconds: float = 0.0
    transcript: list = field(default_factory=list)  # list[TurnView], oldest first
    topics_covered: list = field(default_factory=list)
    main_questions_asked: int = 0
    follow_ups_on_current: int = 0
    seed: int = 0  # stable per interview: the local engine's choices depend on it
    interview_type: str = "mixed"  # mixed, behavioural, technical, situational, screen (Interview.Type)
    # What a drill or "practise this question" interview targets (Interview.focus):
    # {"dimensions": [...], "terms": [...], "questions": [{"text", "from_turn"}, ...]}; empty otherwise.
    focus: dict = field(default_factory=dict)

    @property
    def time_based(self):
        return self.length_mode == "minutes"

    @property
    def fraction_done(self):
        if self.time_based:
            return min(self.elapsed_seconds / (self.duration_minutes * 60), 1.0)
        return min(self.main_questions_asked / self.question_count, 1.0) if self.question_count else 1.0

    @property
    def phase(self):
        return phase_for(self.fraction_done)

    @property
    def seconds_left(self):
        return max(0.0, self.duration_minutes * 60 - self.elapsed_seconds)

    @property
    def last_question(self):
        for turn in reversed(self.transcript):
            if turn.speaker == "interviewer":
                return turn.text
        return ""

    @property
    def last_answer(self):
        if self.transcript and self.transcript[-1].speaker == "candidate":
            return self.transcript[-1].text
        return ""

    def questions_asked(self):
        return [t.text for t in self.transcript if t.speaker == "interviewer"]


@dataclass
class Decision:
    action: str  # one of ACTIONS
    justification: str = ""
    topics: list = field(default_factory=list)  # topics this turn covers


@dataclass
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    model_ms: int = 0  # wall time inside the model call(s)
    first_token_ms: int | None = None
    calls: int = 0
    errors: int = 0  # failed attempts that were retried

    def as_dict(self):
        return asdict(self)

    def add(self, other):
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out
        self.model_ms += other.model_ms
        self.calls += other.calls
        self.errors += other.errors
        if self.first_token_ms is None:
            self.first_token_ms = other.first_token_ms
        return self


@dataclass
class CoachResult:
    # {"relevance": {"score": 1..5, "evidence": "exact quote from the answer", "note": "why"}, ...}
    scores: dict
    strengths: list
    improvements: list
    text: str  # a short paragraph: impression, strengths, improvements, STAR remarks
    source: str = "local"
    usage: Usage = field(default_factory=Usage)
    # "A stronger answer, from your own facts" (engine.rewrite): checked by rewrite.ground.
    rewrite: str = ""


@dataclass
class AnsweredQuestion:
    question: str
    answer: str
    scores: dict  # as in CoachResult.scores
    metrics: dict  # from engine.analysis.analyse


@dataclass
class ReportNarrative:
    patterns: str  # a paragraph on patterns across the answers
    strengths: list  # short sentences
    focus_areas: list  # [{"area": str, "why": str, "next_steps": [str, ...]}]
    source: str = "local"
    usage: Usage = field(default_factory=Usage)


class EngineError(Exception):
    """The model failed after retries; the message is safe to show the candidate."""
