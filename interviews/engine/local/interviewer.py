"""The built-in interviewer: which question to ask next, and how to say it.

Every choice comes from the interview's seed and its transcript, so the same
interview replays identically, and everything it says can be explained from
the analysis metrics (engine.analysis).
"""

import asyncio
import random
import re

from django.conf import settings

from interviews.engine import questions as bank
from interviews.engine.analysis import (
    MAX_ANSWER_CHARS,
    MAX_JOINED_ANSWERS_CHARS,
    OUTCOME_NUMBER_RE,
    STAR_RES,
    analyse,
    display_term,
    filler_counts,
    find_numbers,
    key_terms,
    question_core,
    sentences_of,
    term_in,
    vague_phrases,
)
from interviews.engine.base import CLOSE, FOLLOW_UP, INTRODUCE, NEW_QUESTION, Decision, Usage
from interviews.engine.questions import SCREEN_KIND, SITUATIONAL_KIND, STORY, is_story_question, question_kind

LEVELS = {"easy": 0, "medium": 1, "hard": 2}
LEVEL_NAMES = ("easy", "medium", "hard")
# The setup form's older labels mean the same levels.
DIFFICULTY_ALIASES = {"beginner": "easy", "intermediate": "medium", "advanced": "hard"}
MAIN_KINDS = ("introduction", "question")

# Beginners get one nudge per question; pressing them twice feels like an interrogation.
MAX_FOLLOW_UPS_BY_DIFFICULTY = {"easy": 1, "medium": 2, "hard": 2}

# How often each source of questions is drawn from, per phase.
PHASE_WEIGHTS = {
    "opening": {"motivation": 3, "behavioural": 1, "resume": 1.5, "role": 0.5},
    "exploration": {"behavioural": 2, "role": 2, "jd": 2, "resume": 2, "situational": 1, "motivation": 0.5},
    "deepening": {"role": 2, "jd": 2, "resume": 2, "situational": 2, "behavioural": 1},
    "closing": {"role": 2, "jd": 2, "resume": 1.5, "situational": 2, "behavioural": 1},
}
# A chosen interview type replaces the phase weights: the type is the mix.
TYPE_WEIGHTS = {
    "behavioural": {"behavioural": 3, "role": 2, "resume": 2, "jd": 1.5, "motivation": 0.3},
    "technical": {"role": 3, "jd": 2, "resume": 1},
    "situational": {"situational": 3, "role": 1.5},
    "screen": {"screen": 1},
}
# Where a type goes once its own questions run out, before any other source.
TYPE_FALLBACKS = {"screen": ("motivation",)}
# The role family's own questions are drawn more often than generic ones that merely fit it.
ROLE_PREFERENCE = 2
# The role's own questions of the kinds each type asks (mixed and technical: all of them).
ROLE_QUESTION_KINDS = {"behavioural": (STORY,), "situational": (SITUATIONAL_KIND,), "screen": ()}
# What the introduction says about a chosen type.
TYPE_INTRODUCTIONS = {
    "behavioural": "This is a behavioural interview: I'll ask for real examples from your past work.",
    "technical": "This interview is about the hands-on side of the job: how you do the work, and why.",
    "situational": "This is a situational interview: I'll describe situations and ask what you would do.",
    "screen": "This is a short recruiter screen about your motivation and the practicalities, so brief answers are fine.",
}

STYLE_WEIGHTS = {
    "technical": {"role": 3, "jd": 2, "behavioural": 0.3, "motivation": 0.3, "situational": 0.5},
    "challenging": {"situational": 1.5, "motivation": 0.7},
    "casual": {"motivation": 1.5, "behavioural": 1.2},
    "formal": {},
}

LEADING_FILLER_RE = re.compile(
    r"^(?:(?:and|so|then|also|but|well|um+|uh+|like|basically|actually|which|that|because|ok(?:ay)?|yeah|yes|right)\b[\s,]*)+",
    re.I,
)


def _norm(text):
    return re.sub(r"\s+", " ", (text or "").replace("\u2019", "'")).strip().lower()


def _difficulty(ctx):
    d = (ctx.difficulty or "medium").lower()
    d = DIFFICULTY_ALIASES.get(d, d)
    return d if d in LEVELS else "medium"


def _style(ctx):
    s = (ctx.style or "formal").lower()
    return s if s in bank.INTRODUCTIONS else "formal"


def _fields(ctx):
    role = (ctx.job_role or "").strip() or "open"
    company = (ctx.company or "").strip()
    return {
        "role": role,
        "company": company,
        "at_company": f" at {company}" if company else "",
        "company_or_us": company or "us",
    }


def _fill(template, **fields):
    return template.format(**fields)


def key_phrase(answer, terms=(), max_words=9):
    """A short quote from the answer worth echoing back: a result, a skill, or an action."""
    best, best_score = "", -1
    answer = (answer or "")[:MAX_ANSWER_CHARS]
    for s, e in sentences_of(answer):
        sentence = answer[s:e]
        for clause in re.split(r"[,;:()\u2014\u2013]|\s-\s|\b(?:and|because|but|so that|which meant|while)\b", sentence):
            clause = LEADING_FILLER_RE.sub("", clause.strip()).strip(" .!?\"'")
            words = clause.split()
            if len(words) < 3:
                continue
            low = clause.lower()
            score = 0
            numbers = find_numbers(clause)
            if numbers:
                score += 3 + (1 if OUTCOME_NUMBER_RE.search(" ".join(numbers)) else 0)
            if any(term_in(t, clause) for t in terms):
                score += 2
            if any(rx.search(low) for rx in STAR_RES["result"]):
                score += 2
            if STAR_RES["action"][0].search(low):
                score += 1
            if vague_phrases(clause) or filler_counts(clause):
                score -= 2
            # Ties go to the later clause: answers usually end on the result.
            if score >= best_score:
                best, best_score = _trim_clause(clause, numbers, max_words), score
    if best and best[0].isupper() and not best.startswith("I ") and len(best) > 1 and best[1].islower():
        best = best[0].lower() + best[1:]
    return best


def _trim_clause(clause, numbers, max_words):
    words = clause.split()
    if len(words) <= max_words:
        return clause
    if numbers:
        # Keep the figure in the quote: end the window just after it.
        at = clause.find(numbers[0]) + len(numbers[0])
        upto = len(clause[:at].split())
        start = max(0, upto - max_words)
        return " ".join(words[start : start + max_words]).rstrip(",;")
    kept = words[:max_words]
    while len(kept) > 3 and kept[-1].lower().strip(",;") in bank.DANGLING:
        kept.pop()
    return " ".join(kept).rstrip(",;")


class _Candidate:
    __slots__ = ("text", "topic", "level", "source")

    def __init__(self, text, topic, level, source):
        self.text, self.topic, self.level, self.source = text, topic, level, source


class LocalInterviewer:
    """Plans and streams the interviewer's turns (LocalEngine adds the coach and the report)."""

    async def stream_turn(self, ctx, allowed):
        decision, text = await asyncio.to_thread(self.plan, ctx, allowed)
        yield decision
        delay = float(getattr(settings, "INTERVIEW_LOCAL_STREAM_DELAY", 0) or 0)
        for i, chunk in enumerate(re.findall(r"\S+\s*", text)):
            if i and delay > 0:
                await asyncio.sleep(delay)
            yield chunk
        yield Usage(calls=0)

    def plan(self, ctx, allowed):
        """The next interviewer turn as (Decision, text); pure and deterministic."""
        allowed = frozenset(allowed)
        rng = random.Random(ctx.seed + len(ctx.transcript))
        if INTRODUCE in allowed:
            return self._introduce(ctx, rng)

        main_question, answers = _current_thread(ctx)
        # Every choice below reads the same answers: measure them once.
        thread = _analyse_thread(ctx, main_question, answers)
        reason = self._follow_up_reason(ctx, main_question, answers, thread)
        difficulty = _difficulty(ctx)
        can_follow = (
            FOLLOW_UP in allowed
            and reason is not None
            and ctx.follow_ups_on_current < MAX_FOLLOW_UPS_BY_DIFFICULTY[difficulty]
            # Once time is nearly up, the wrap-up matters more than one more probe.
            and not (ctx.time_based and ctx.phase == "closing")
        )

        if CLOSE in allowed and self._should_close(ctx, allowed, can_follow):
            return self._close(ctx, rng, answers)
        if can_follow:
            return self._follow_up(ctx, rng, reason, main_question, answers, thread)
        if NEW_QUESTION in allowed:
            picked = self._pick_question(ctx, rng)
            if picked is not None:
                return self._new_question(ctx, rng, picked, reason, answers, thread)
        if FOLLOW_UP in allowed and ctx.follow_ups_on_current < MAX_FOLLOW_UPS_BY_DIFFICULTY[difficulty]:
            return self._follow_up(ctx, rng, reason or "deeper", main_question, answers, thread)
        if CLOSE in allowed:
            return self._close(ctx, rng, answers)
        if FOLLOW_UP in allowed:
            return self._follow_up(ctx, rng, reason or "deeper", main_question, answers, thread)
        # Only a new question is allowed and the bank is exhausted: ask for another example.
        return self._new_question(ctx, rng, self._fallback_question(ctx), reason, answers, thread)

    def _should_close(self, ctx, allowed, can_follow):
        if NEW_QUESTION not in allowed:
            # Count mode after the last main question, or a time-based interview in its last minute.
            return not can_follow or (ctx.time_based and ctx.seconds_left < 45)
        if ctx.time_based and ctx.phase == "closing":
            asked = [_norm(q) for q in ctx.questions_asked()]
            wrap_ups = [_norm(_fill(q.text, **_fields(ctx))) for q in bank.WRAP_UP]
            return any(w in a for w in wrap_ups for a in asked)
        return False

    # -- introduction

    def _introduce(self, ctx, rng):
        style = _style(ctx)
        fields = _fields(ctx)
        focused = focus_question(self, ctx, rng)
        if focused is not None:
            return _introduce_focus(ctx, rng, style, fields, focused)
        level = LEVELS[_difficulty(ctx)] + (1 if style == "challenging" else 0)
        opening = [q for q in bank.OPENING if LEVELS[q.difficulty] <= max(level, 0)]
        # The opener matches the difficulty: hard interviews start with a pointed question.
        opening.sort(key=lambda q: -LEVELS[q.difficulty])
        top = [q for q in opening if q.difficulty == opening[0].difficulty]
        question = rng.choice(top)
        asked = _fill(question.text, **fields)
        if ctx.interview_type in TYPE_INTRODUCTIONS:
            asked = f"{TYPE_INTRODUCTIONS[ctx.interview_type]} {asked}"
        text = _fill(rng.choice(bank.INTRODUCTIONS[style]), question=asked, **fields)
        decision = Decision(
            INTRODUCE,
            f"Opening the {fields['role']} interview with a {style} introduction and a {question.topic} question.",
            [question.topic],
        )
        return decision, text

    # -- follow-ups

    def _follow_up_reason(self, ctx, main_question, answers, thread):
        """Why the current answer needs a follow-up, or None; never the same reason twice per question.

        `thread` is the analysis of all of `answers` together."""
        if not answers:
            return None
        used = set()
        # Replay earlier follow-ups on this question to know which reasons were already spent.
        for k in range(1, len(answers)):
            earlier = self._reason(ctx, main_question, _analyse_thread(ctx, main_question, answers[:k]), used)
            if earlier:
                used.add(earlier)
        return self._reason(ctx, main_question, thread, used)

    def _reason(self, ctx, main_question, m, used):
        kind = question_kind(main_question, ctx.interview_type)
        story = kind == STORY
        # A screening question wants a short fact, not a story: only a near-empty answer needs more.
        screen = kind == SCREEN_KIND
        # A "what would you do" answer is a plan: ask for its missing steps, not for an example.
        plan = kind == SITUATIONAL_KIND
        missing_terms = [t for t in _asked_terms(ctx, main_question) if t not in m["jd_terms_covered"]]
        checks = (
            ("no_plan", plan and (m["too_short"] or m.get("plan_count", 4) < 3)),
            ("too_brief", screen and m["words"] < 4),
            ("too_short", m["too_short"] and not (screen or plan)),
            ("vague", not screen and (len(m["vague_phrases"]) >= 2 or (bool(m["vague_phrases"]) and not m["numbers"] and m["star_count"] < 3))),
            ("no_personal_role", not screen and m["we_statements"] >= 2 and m["ownership"] < 0.4),
            ("no_outcome", story and not m["has_outcome"]),
            ("no_star_result", story and m["has_outcome"] and not m["star"]["result"]),
            ("missing_jd_term", bool(missing_terms) and not screen),
        )
        for reason, applies in checks:
            if applies and reason not in used:
                return reason
        return None

    def _follow_up(self, ctx, rng, reason, main_question, answers, m):
        style = _style(ctx)
        term = next((t for t in _asked_terms(ctx, main_question) if t not in m["jd_terms_covered"]), None)
        term = term or (m["jd_terms_missed"] or ["the key skills for this role"])[0]
        phrase = key_phrase(answers[-1] if answers else "", m["jd_terms_covered"]) or "that"
        fields = {"phrase": phrase, "term": display_term(term), "vague": (m["vague_phrases"] or ["that"])[0]}
        asked = [_norm(q) for q in ctx.questions_asked()]
        options = [_fill(t, **fields) for t in bank.FOLLOW_UPS[reason]]
        options += [_fill(t, **fields) for t in bank.FOLLOW_UPS["deeper"] if reason != "deeper"]
        fresh = [o for o in options if not any(_norm(o) in a for a in asked)]
        # Prefer the reason's own wording; fall back to a deeper probe if all were used.
        own = [o for o in fresh if o in options[: len(bank.FOLLOW_UPS[reason])]]
        text = rng.choice(own or fresh or options)
        if style == "challenging" and reason != "deeper":
            text = f"{rng.choice(bank.CHALLENGING_FOLLOW_UP_PREFIX)} {text}"
        why = {
            "too_short": f"The answer was {m['words']} words, too short to judge; asking for a concrete example.",
            "vague": f"The answer relied on vague wording ({', '.join(m['vague_phrases'][:3])}); asking for specifics.",
            "no_personal_role": f"The answer said \"we\" {m['we_statements']} times and \"I\" {m['i_statements']}; asking for the candidate's own part.",
            "no_outcome": "The story had no outcome or result; asking how it turned out.",
            "no_star_result": "Figures were given but the story never said how it ended; asking to close the loop.",
            "missing_jd_term": f"The question was about {display_term(term)}, which the answer never mentioned.",
            "deeper": "The answer was complete; probing deeper before moving on.",
            "no_plan": f"A situational answer needs a plan; it covered {m.get('plan_count', 0)} of 4 parts (actions, order, reasons, follow-through).",
            "too_brief": f"The screening answer was {m['words']} words, too little to go on; asking for a sentence more.",
        }[reason]
        return Decision(FOLLOW_UP, why, [term] if reason == "missing_jd_term" else []), text

    # -- new questions

    def _candidates(self, ctx):
        """Every question this interview could ask, by source."""
        fields = _fields(ctx)
        role_key = bank.match_role(ctx.job_role, ctx.job_description)
        # Generic questions only where they fit the kind of role: no "scope" or "stakeholders" for a nurse.
        kinds = bank.role_kinds(ctx.job_role, ctx.job_description)

        def generic(questions, source):
            return [_Candidate(_fill(q.text, **fields), q.topic, LEVELS[q.difficulty], source) for q in questions if bank.fits(q, kinds)]

        out = {
            "motivation": generic(bank.MOTIVATION, "motivation"),
            "behavioural": generic(bank.BEHAVIOURAL, "behavioural"),
            "situational": generic(bank.SITUATIONAL, "situational"),
            "screen": generic(bank.SCREEN, "screen"),
            "role": [],
            "jd": [],
            "resume": [],
        }
        if role_key:
            wanted = ROLE_QUESTION_KINDS.get(ctx.interview_type)
            out["role"] = [
                _Candidate(q.text, q.topic, LEVELS[q.difficulty], "role")
                for q in bank.ROLES[role_key]["questions"]
                if wanted is None or question_kind(q.text) in wanted
            ]
        if (ctx.job_description or "").strip():
            for term in key_terms(ctx.job_description, ctx.job_role, limit=10):
                for level, name in enumerate(LEVEL_NAMES):
                    for template in bank.JD_TERM_QUESTIONS[name]:
                        out["jd"].append(_Candidate(template.format(term=display_term(term)), term, level, "jd"))
        for item in bank.resume_items(ctx.resume):
            for level, name in enumerate(LEVEL_NAMES):
                for template in bank.RESUME_QUESTIONS[name]:
                    out["resume"].append(_Candidate(template.format(item=item), item, level, "resume"))
        return out

    def _pick_question(self, ctx, rng):
        focused = focus_question(self, ctx, rng)
        if focused is not None:
            return focused
        style, phase = _style(ctx), ctx.phase
        asked = [_norm(q) for q in ctx.questions_asked()]
        covered = {_norm(t) for t in ctx.topics_covered}

        def fresh(cands):
            unasked = [c for c in cands if not any(_norm(c.text) in a for a in asked)]
            # A résumé item or JD term is one topic, however it is phrased.
            if any(c.source in ("jd", "resume") for c in unasked):
                unasked = [c for c in unasked if c.source not in ("jd", "resume") or not _topic_asked(c.topic, asked)]
            uncovered = [c for c in unasked if _norm(c.topic) not in covered]
            return uncovered or unasked

        if ctx.time_based and phase == "closing":
            fields = _fields(ctx)
            wraps = fresh([_Candidate(_fill(q.text, **fields), q.topic, LEVELS[q.difficulty], "wrap-up") for q in bank.WRAP_UP])
            if wraps:
                return self._closest(wraps, self._target_level(ctx), rng)

        pools = {source: fresh(cands) for source, cands in self._candidates(ctx).items()}
        weights = dict(TYPE_WEIGHTS.get(ctx.interview_type) or PHASE_WEIGHTS[phase])
        for source, factor in STYLE_WEIGHTS[style].items():
            if source in weights:
                weights[source] *= factor
        if "role" in weights:
            weights["role"] *= ROLE_PREFERENCE
        sources = [s for s in sorted(weights) if pools.get(s)]
        if not sources:
            sources = [s for s in TYPE_FALLBACKS.get(ctx.interview_type, ()) if pools.get(s)]
            sources = sources or [s for s in sorted(pools) if pools[s]]
            if not sources:
                return None
            weights = {s: 1 for s in sources}
        source = rng.choices(sources, weights=[weights[s] for s in sources])[0]
        return self._closest(pools[source], self._target_level(ctx), rng)

    def _target_level(self, ctx):
        level = LEVELS[_difficulty(ctx)]
        if _style(ctx) == "challenging":
            level += 1
        if ctx.phase == "opening":
            level -= 1
        elif ctx.phase in ("deepening", "closing"):
            level += 1
        return min(max(level, 0), 2)

    @staticmethod
    def _closest(cands, target, rng):
        best = min(abs(c.level - target) for c in cands)
        return rng.choice([c for c in cands if abs(c.level - target) == best])

    def _fallback_question(self, ctx):
        asked = [_norm(q) for q in ctx.questions_asked()]
        n = ctx.main_questions_asked
        while True:
            text = f"Tell me about another piece of work you're proud of, one we haven't discussed yet (example {n + 1})."
            if not any(_norm(text) in a for a in asked):
                return _Candidate(text, "other experience", 1, "fallback")
            n += 1

    def _new_question(self, ctx, rng, picked, reason, answers, last):
        style = _style(ctx)
        asked = [_norm(q) for q in ctx.questions_asked()]
        ack = self._acknowledge(ctx, rng, answers, weak=reason is not None)
        # A lead-in that moves on after an acknowledgement that already did would say it twice.
        leads = [t for t in bank.LEAD_INS[style] if not (_gestures(t) & _gestures(ack))] or [""]
        lead = rng.choice(_unused(leads, asked)) if picked.source != "wrap-up" else ""
        text = " ".join(part for part in (ack, lead, picked.text) if part)
        if reason:
            why = f"Follow-ups on this question are used up ({reason.replace('_', ' ')}); moving on to {picked.topic}."
        else:
            why = (
                f"The last answer was complete enough (STAR {last['star_count']}/4"
                f"{', with an outcome' if last['has_outcome'] else ''}); moving to {picked.topic} "
                f"({picked.source} question, {ctx.phase} phase)."
            )
        return Decision(NEW_QUESTION, why, [picked.topic]), text

    def _acknowledge(self, ctx, rng, answers, weak=False, closing=False, avoid=frozenset()):
        """A short reaction to the last answer, so the interview feels like a conversation.

        It quotes the answer, unless the previous turn already quoted the
        candidate (a quote every turn sounds like a tic); it does not open
        the way the previous turn did; and it says none of the `avoid`
        gestures (_gestures), which the rest of the turn says already.
        May be empty when every wording would repeat something."""
        style = _style(ctx)
        asked = [_norm(q) for q in ctx.questions_asked()]
        answer = answers[-1] if answers else ctx.last_answer
        terms = key_terms(ctx.job_description, ctx.job_role) if ctx.job_description else []
        phrase = key_phrase(answer, [t for t in terms if term_in(t, answer)])
        if len(phrase.split()) < 3 or _quoted_candidate(ctx, _previous_interviewer_turn(ctx)):
            templates = bank.PLAIN_TRANSITIONS[style]
        else:
            # Praise would ring false after an answer that still lacked something.
            templates = bank.CLOSING_ACKS if closing else bank.NEUTRAL_TRANSITIONS if weak else bank.TRANSITIONS[style]
        opened = _opening(_previous_interviewer_turn(ctx))
        fitting = [t for t in templates if not (_gestures(t) & avoid)]
        varied = [t for t in fitting if _opening(t) != opened] or fitting
        if not varied:
            return ""
        return rng.choice(_unused(varied, asked)).format(phrase=phrase)

    # -- closing

    def _close(self, ctx, rng, answers):
        style = _style(ctx)
        closing = _fill(rng.choice(bank.CLOSINGS[style]), **_fields(ctx))
        # The closing words thank the candidate; the acknowledgement must not thank them again.
        # Nor move on: there is nothing left to move on to.
        ack = self._acknowledge(ctx, rng, answers, closing=True, avoid=_gestures(closing) | {"move_on"})
        text = f"{ack} {closing}".strip()
        if ctx.time_based:
            why = f"{ctx.phase.capitalize()} phase with {int(ctx.seconds_left)} s left; closing the interview."
        else:
            why = f"All {ctx.question_count} main questions have been asked; closing the interview."
        return Decision(CLOSE, why, []), text


def _asked_terms(ctx, question):
    """JD terms the question itself asks about (not ones merely in the role title or greeting)."""
    if not (ctx.job_description or "").strip():
        return []
    core = question_core(question)
    return [t for t in key_terms(ctx.job_description, ctx.job_role) if term_in(t, core) and not term_in(t, ctx.job_role or "")]


# What a phrase does besides its content: thank the candidate, or announce a
# move to the next topic. One turn does each at most once.
GESTURES = {
    "thanks": re.compile(r"\b(?:thank|thanks|appreciate)\b", re.I),
    "move_on": re.compile(r"\b(?:mov(?:e|ing) on|next|switch\w*|different area|something else|something different|another area)\b", re.I),
}
# A quoted span of an interviewer turn; bounded, so linear on any text.
QUOTE_RE = re.compile(r'"([^"\n]{3,300})"')


def _gestures(text):
    return frozenset(name for name, rx in GESTURES.items() if rx.search(text or ""))


def _opening(text):
    """The first two words, lower-cased: two turns opening alike sound canned."""
    return " ".join(re.findall(r"[a-z']+", _norm(text))[:2])


def _previous_interviewer_turn(ctx):
    return next((t.text for t in reversed(ctx.transcript) if t.speaker == "interviewer"), "")


def _quoted_candidate(ctx, text):
    """Whether `text` quotes something the candidate said."""
    said = [_norm(t.text[:MAX_ANSWER_CHARS]) for t in ctx.transcript if t.speaker == "candidate"]
    return any(_norm(q) in a for q in QUOTE_RE.findall(text or "") for a in said)


def _unused(templates, asked):
    """Templates whose fixed wording hasn't been said yet in this interview (all of them if none)."""
    def said(template):
        fixed = [f.strip(" .,:\"'") for f in re.split(r"\{[a-z_]+\}", template)]
        fixed = [_norm(f) for f in fixed if len(f) >= 4]
        return fixed and all(any(f in a for a in asked) for f in fixed)

    fresh = [t for t in templates if not said(t)]
    return fresh or list(templates)


def _topic_asked(topic, asked):
    t = _norm(topic)
    return any(t in a for a in asked)


def _analyse_thread(ctx, main_question, answers):
    """The metrics of a question's answers read together, its follow-ups' included."""
    joined = " ".join(answers)
    return analyse(main_question, joined, ctx.job_description, ctx.job_role, max_chars=MAX_JOINED_ANSWERS_CHARS)


def _current_thread(ctx):
    """(text of the current main question, candidate answers since it, oldest first)."""
    answers, main_question = [], ""
    for turn in reversed(ctx.transcript):
        if turn.speaker == "candidate":
            answers.append(turn.text[:MAX_ANSWER_CHARS])
        elif turn.kind in MAIN_KINDS:
            main_question = turn.text
            break
    answers.reverse()
    return main_question, answers



# ----- drills and "practise this question": Interview.focus -----

# The bank's sources whose questions exercise each rubric dimension; the
# structure and specificity ones must ask for a story (situation to result).
DIMENSION_SOURCES = {
    "relevance": ("situational", "behavioural"),
    "structure": ("behavioural", "resume"),
    "specificity": ("behavioural", "resume"),
    "communication": ("motivation", "situational"),
    "role_fit": ("role", "jd"),
}
STORY_DIMENSIONS = ("structure", "specificity")
DIMENSION_NAMES = {
    "relevance": "answering exactly the question asked",
    "structure": "structure (situation, task, action, result)",
    "specificity": "specific detail and measurable results",
    "communication": "clear, concise delivery",
    "role_fit": "linking your experience to the role",
}
MAX_FOCUS_ITEMS = 5
MAX_FOCUS_QUESTION_CHARS = 500
MAX_FOCUS_TERM_CHARS = 60


def focus_targets(focus):
    """The focus as an ordered list of (kind, value): its questions first, then
    weak dimensions and missed terms taken in turn. Anything malformed is dropped."""
    focus = focus if isinstance(focus, dict) else {}

    def listed(key):
        value = focus.get(key)
        return value[:MAX_FOCUS_ITEMS] if isinstance(value, list) else []

    questions = [q.get("text") for q in listed("questions") if isinstance(q, dict)]
    questions = [" ".join(q.split())[:MAX_FOCUS_QUESTION_CHARS] for q in questions if isinstance(q, str) and q.strip()]
    dimensions = [d for d in listed("dimensions") if isinstance(d, str) and d in DIMENSION_SOURCES]
    terms = [t.strip()[:MAX_FOCUS_TERM_CHARS] for t in listed("terms") if isinstance(t, str) and t.strip()]
    targets = [("question", q) for q in questions]
    for i in range(max(len(dimensions), len(terms))):
        targets += [("dimension", d) for d in dimensions[i : i + 1]]
        targets += [("term", t) for t in terms[i : i + 1]]
    return targets


def _dimension_topic(dimension):
    return f"{dimension.replace('_', ' ')} drill"


def focus_question(interviewer, ctx, rng):
    """The next question the interview's focus calls for, or None once every
    target has been asked (or the interview has no focus): a question from
    before verbatim, then one per weak dimension and per missed term."""
    asked = [_norm(q) for q in ctx.questions_asked()]
    covered = {_norm(t) for t in ctx.topics_covered}
    target_level = interviewer._target_level(ctx)
    for kind, value in focus_targets(ctx.focus):
        if kind == "question":
            if not any(_norm(value) in a for a in asked):
                return _Candidate(value, "question from an earlier interview", 1, "focus")
        elif kind == "term":
            # Served once it is a covered topic: the drill's opening note names every term already.
            if _norm(value) in covered:
                continue
            templates = _unused(bank.JD_TERM_QUESTIONS[LEVEL_NAMES[target_level]], asked)
            return _Candidate(rng.choice(templates).format(term=display_term(value)), value, target_level, "focus")
        else:
            topic = _dimension_topic(value)
            if _norm(topic) in covered:
                continue
            pools = interviewer._candidates(ctx)
            pool = [c for source in DIMENSION_SOURCES[value] for c in pools[source]]
            if value in STORY_DIMENSIONS:
                pool = [c for c in pool if is_story_question(c.text)]
            pool = [c for c in pool if not any(_norm(c.text) in a for a in asked)]
            if pool:
                picked = interviewer._closest(pool, target_level, rng)
                return _Candidate(picked.text, topic, picked.level, "focus")
    return None


def focus_note(focus):
    """One sentence telling the candidate what this interview targets."""
    targets = focus_targets(focus)
    dimensions = [DIMENSION_NAMES[v] for k, v in targets if k == "dimension"]
    terms = [display_term(v) for k, v in targets if k == "term"]
    if not dimensions and not terms:
        return "This session repeats a question from an earlier interview, so you can try it again."
    parts = list(dimensions)
    if terms:
        parts.append("the job's " + ("term " if len(terms) == 1 else "terms ") + _and_list(terms))
    # Semicolons between the parts: a dimension's name has commas of its own.
    return f"This is a drill on your weak spots: {_and_list(parts, '; ')}."


def _and_list(items, separator=", "):
    return items[0] if len(items) == 1 else separator.join(items[:-1]) + " and " + items[-1]


def _introduce_focus(ctx, rng, style, fields, focused):
    text = _fill(rng.choice(bank.INTRODUCTIONS[style]), question=f"{focus_note(ctx.focus)} {focused.text}", **fields)
    decision = Decision(
        INTRODUCE,
        f"Opening the {fields['role']} interview on its focus: {focused.topic}.",
        [focused.topic],
    )
    return decision, text


# ----- coaching: scores from metrics -----
