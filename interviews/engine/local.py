"""The built-in interviewer and coach: no model, no network, deterministic.

Every choice comes from the interview's seed and its transcript, so the same
interview replays identically, and everything it says can be explained from
the analysis metrics (engine.analysis).
"""

import asyncio
import random
import re
from statistics import mean

from django.conf import settings

from interviews.engine import questions as bank
from interviews.engine.analysis import (
    MAX_ANSWER_CHARS,
    MAX_JOINED_ANSWERS_CHARS,
    MAX_QUESTION_CHARS,
    OUTCOME_NUMBER_RE,
    STAR_RES,
    analyse,
    content_stems,
    display_term,
    filler_counts,
    find_numbers,
    key_terms,
    question_core,
    sentences_of,
    skill_terms,
    term_in,
    vague_phrases,
)
from interviews.engine.base import (
    CLOSE,
    DIMENSIONS,
    FOLLOW_UP,
    INTRODUCE,
    NEW_QUESTION,
    CoachResult,
    Decision,
    ReportNarrative,
    Usage,
)

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
STYLE_WEIGHTS = {
    "technical": {"role": 3, "jd": 2, "behavioural": 0.3, "motivation": 0.3, "situational": 0.5},
    "challenging": {"situational": 1.5, "motivation": 0.7},
    "casual": {"motivation": 1.5, "behavioural": 1.2},
    "formal": {},
}

# Questions that ask for a story, where STAR and an outcome are expected.
STORY_RE = re.compile(
    r"\b(tell me about|describe|give me an example|walk me through|a time|example of|talk me through|"
    r"how did you|what did you do|take me through)\b",
    re.I,
)
NOT_STORY_RE = re.compile(r"\b(background|yourself|career so far|why are you|motivat|what drew you|where do you want)\b", re.I)
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


def is_story_question(question):
    core = question_core(question)
    return bool(STORY_RE.search(core)) and not NOT_STORY_RE.search(core)


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


class LocalEngine:
    name = "local"

    # ----- the interviewer -----

    # Planning, coaching and the report analyse the candidate's text: CPU work,
    # done in a thread so that the event loop keeps serving every other socket
    # of the process meanwhile. Only the streaming stays on the loop.

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
        level = LEVELS[_difficulty(ctx)] + (1 if style == "challenging" else 0)
        opening = [q for q in bank.OPENING if LEVELS[q.difficulty] <= max(level, 0)]
        # The opener matches the difficulty: hard interviews start with a pointed question.
        opening.sort(key=lambda q: -LEVELS[q.difficulty])
        top = [q for q in opening if q.difficulty == opening[0].difficulty]
        question = rng.choice(top)
        text = _fill(rng.choice(bank.INTRODUCTIONS[style]), question=_fill(question.text, **fields), **fields)
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
        story = is_story_question(main_question)
        missing_terms = [t for t in _asked_terms(ctx, main_question) if t not in m["jd_terms_covered"]]
        checks = (
            ("too_short", m["too_short"]),
            ("vague", len(m["vague_phrases"]) >= 2 or (bool(m["vague_phrases"]) and not m["numbers"] and m["star_count"] < 3)),
            ("no_personal_role", m["we_statements"] >= 2 and m["ownership"] < 0.4),
            ("no_outcome", story and not m["has_outcome"]),
            ("no_star_result", story and m["has_outcome"] and not m["star"]["result"]),
            ("missing_jd_term", bool(missing_terms)),
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
        }[reason]
        return Decision(FOLLOW_UP, why, [term] if reason == "missing_jd_term" else []), text

    # -- new questions

    def _candidates(self, ctx):
        """Every question this interview could ask, by source."""
        fields = _fields(ctx)
        role_key = bank.match_role(ctx.job_role, ctx.job_description)
        out = {
            "motivation": [_Candidate(_fill(q.text, **fields), q.topic, LEVELS[q.difficulty], "motivation") for q in bank.MOTIVATION],
            "behavioural": [_Candidate(q.text, q.topic, LEVELS[q.difficulty], "behavioural") for q in bank.BEHAVIOURAL],
            "situational": [_Candidate(q.text, q.topic, LEVELS[q.difficulty], "situational") for q in bank.SITUATIONAL],
            "role": [],
            "jd": [],
            "resume": [],
        }
        if role_key:
            out["role"] = [_Candidate(q.text, q.topic, LEVELS[q.difficulty], "role") for q in bank.ROLES[role_key]["questions"]]
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
        weights = dict(PHASE_WEIGHTS[phase])
        for source, factor in STYLE_WEIGHTS[style].items():
            if source in weights:
                weights[source] *= factor
        sources = [s for s in sorted(weights) if pools.get(s)]
        if not sources:
            sources = [s for s in sorted(pools) if pools[s]]
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
        lead = rng.choice(_unused(bank.LEAD_INS[style], asked)) if picked.source != "wrap-up" else ""
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

    def _acknowledge(self, ctx, rng, answers, weak=False, closing=False):
        """A short reaction to the last answer that quotes it, so the interview feels like a conversation."""
        style = _style(ctx)
        asked = [_norm(q) for q in ctx.questions_asked()]
        answer = answers[-1] if answers else ctx.last_answer
        terms = key_terms(ctx.job_description, ctx.job_role) if ctx.job_description else []
        phrase = key_phrase(answer, [t for t in terms if term_in(t, answer)])
        if len(phrase.split()) < 3:
            return rng.choice(_unused(bank.PLAIN_TRANSITIONS[style], asked))
        # Praise would ring false after an answer that still lacked something.
        templates = bank.CLOSING_ACKS if closing else bank.NEUTRAL_TRANSITIONS if weak else bank.TRANSITIONS[style]
        return rng.choice(_unused(templates, asked)).format(phrase=phrase)

    # -- closing

    def _close(self, ctx, rng, answers):
        style = _style(ctx)
        text = f"{self._acknowledge(ctx, rng, answers, closing=True)} {_fill(rng.choice(bank.CLOSINGS[style]), **_fields(ctx))}"
        if ctx.time_based:
            why = f"{ctx.phase.capitalize()} phase with {int(ctx.seconds_left)} s left; closing the interview."
        else:
            why = f"All {ctx.question_count} main questions have been asked; closing the interview."
        return Decision(CLOSE, why, []), text

    # ----- the coach -----

    async def coach(self, ctx, question, answer, metrics):
        return await asyncio.to_thread(coach_answer, ctx, question, answer, metrics)

    async def report(self, ctx, answered):
        return await asyncio.to_thread(build_report, ctx, answered)


def _asked_terms(ctx, question):
    """JD terms the question itself asks about (not ones merely in the role title or greeting)."""
    if not (ctx.job_description or "").strip():
        return []
    core = question_core(question)
    return [t for t in key_terms(ctx.job_description, ctx.job_role) if term_in(t, core) and not term_in(t, ctx.job_role or "")]


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


# ----- coaching: scores from metrics -----


def _clamp(x):
    return int(min(5, max(1, round(x))))


def _evidence(answer, score_sentence):
    """The answer's sentence that best supports a score, as an exact substring (max ~200 chars)."""
    spans = sentences_of(answer)
    if not spans:
        return (answer or "").strip()[:200]
    best = max(spans, key=lambda se: (score_sentence(answer[se[0] : se[1]].lower()), -se[0]))
    text = answer[best[0] : best[1]]
    if len(text) > 200:
        cut = text[:200]
        text = cut[: cut.rfind(" ")] if " " in cut else cut
    return text


def _star_parts(sentence):
    return sum(1 for res in STAR_RES.values() if any(rx.search(sentence) for rx in res))


def coach_answer(ctx, question, answer, metrics=None):
    """The local coach's CoachResult for one answer, derived from the analysis metrics."""
    answer = (answer or "")[:MAX_ANSWER_CHARS]
    question = (question or "")[:MAX_QUESTION_CHARS]
    # Fill in anything missing from metrics stored by an older version of analyse().
    m = {**analyse(question, answer, ctx.job_description, ctx.job_role), **(metrics or {})}
    story = is_story_question(question) if question else True
    words = m["words"]
    outcome_numbers = [x for x in m["numbers"] if OUTCOME_NUMBER_RE.search(x)]
    skills = skill_terms(answer)
    q_stems = content_stems(question_core(question))

    # relevance
    r = m["relevance"] if question else (1.0 if words else 0.0)
    rel = 5 if r >= 0.6 else 4 if r >= 0.4 else 3 if r >= 0.25 else 2 if r > 0 else 1
    if words < 15:
        rel = min(rel, 2)
    elif m["too_short"]:
        rel = min(rel, 3)

    # structure
    if story:
        struct = 1 + m["star_count"]
        if m["too_short"]:
            struct = min(struct, 2)
    else:
        reasoning = bool(re.search(r"\b(because|so that|which is why|for example|for instance|first|second|finally)\b", answer, re.I))
        struct = 2 + (m["sentences"] >= 2) + (words >= 60) + reasoning
        if m["too_short"]:
            struct = min(struct, 2)
    if words > 450:
        struct -= 1

    # specificity
    spec = 2 + (2 if outcome_numbers else 1 if m["numbers"] else 0) + (1 if m["jd_terms_covered"] or skills else 0)
    spec += 1 if m["star"]["action"] and m["i_statements"] else 0
    spec -= min(2, len(m["vague_phrases"]))
    spec -= 1 if m["too_short"] else 0

    # communication
    rate = m["filler_rate"]
    comm = 4 - (3 if rate >= 10 else 2 if rate >= 5 else 1 if rate >= 2.5 else 0)
    comm -= 2 if words < 20 else 1 if m["too_short"] else 0
    if m["sentences"] and words / m["sentences"] > 40:
        comm -= 1
    wpm = m.get("words_per_minute")
    if wpm and (wpm < 100 or wpm > 190) and words >= 20:
        comm -= 1
    if rate < 1.5 and words >= 60 and m["sentences"] >= 3:
        comm += 1

    # role fit
    owns = m["i_statements"] >= 2 and m["ownership"] >= 0.5
    we_heavy = m["we_statements"] >= 2 and m["ownership"] < 0.34
    n_terms = len(m["jd_terms_covered"]) + len(m["jd_terms_missed"])
    if n_terms:
        n = len(m["jd_terms_covered"])
        fit = 4 if n >= 3 else 3.5 if n == 2 else 3 if n == 1 else 2
    else:
        fit = 2.5 + (0.5 if skills else 0)
    fit += (1 if owns else 0) - (1 if we_heavy else 0) + (0.5 if m["has_outcome"] else 0) - (1 if m["too_short"] else 0)

    if not words:
        rel = struct = spec = comm = fit = 1

    covered = [t.lower() for t in m["jd_terms_covered"]]
    fillers = list(m["filler_words"])
    vague = m["vague_phrases"]
    stars_missing = [p for p, ok in m["star"].items() if not ok]

    def rel_sentence(s):
        return len(q_stems & content_stems(s, noise=frozenset()))

    def spec_sentence(s):
        return 3 * len(find_numbers(s)) + sum(1 for t in covered if t in s) - (0 if (outcome_numbers or covered) else -len(vague_phrases(s)))

    def comm_sentence(s):
        if rate >= 2.5:
            return sum(filler_counts(s).values())
        return -abs(len(s.split()) - 18)  # the clearest, mid-length sentence

    def fit_sentence(s):
        return 2 * sum(1 for t in covered if t in s) + len(re.findall(r"\bi\b", s))

    def struct_sentence(s):
        return 2 * _star_parts(s) + (3 if any(rx.search(s) for rx in STAR_RES["result"]) else 0)

    scores = {
        "relevance": {
            "score": _clamp(rel),
            "evidence": _evidence(answer, rel_sentence),
            "note": _relevance_note(r, words),
        },
        "structure": {
            "score": _clamp(struct),
            "evidence": _evidence(answer, struct_sentence),
            "note": _structure_note(story, m, stars_missing),
        },
        "specificity": {
            "score": _clamp(spec),
            "evidence": _evidence(answer, spec_sentence),
            "note": _specificity_note(m, outcome_numbers, vague),
        },
        "communication": {
            "score": _clamp(comm),
            "evidence": _evidence(answer, comm_sentence),
            "note": _communication_note(m, fillers),
        },
        "role_fit": {
            "score": _clamp(fit),
            "evidence": _evidence(answer, fit_sentence),
            "note": _fit_note(m, n_terms, owns, we_heavy),
        },
    }
    assert set(scores) == set(DIMENSIONS)
    strengths = _strengths(m, story, outcome_numbers)
    improvements = _improvements(m, story, outcome_numbers, bool(question))
    avg = mean(s["score"] for s in scores.values())
    impression = (
        "A strong, well-evidenced answer." if avg >= 4.2
        else "A solid answer with room to sharpen." if avg >= 3.2
        else "The right intent, but too little evidence yet." if avg >= 2.2
        else "A thin answer that doesn't yet show your experience."
    )
    text = " ".join([impression, "Strengths: " + " ".join(strengths), "To improve: " + " ".join(improvements), _star_remark(story, m, stars_missing)])
    return CoachResult(scores=scores, strengths=strengths, improvements=improvements, text=text, source="local", usage=Usage())


def _relevance_note(r, words):
    if not words:
        return "No answer was given."
    if r >= 0.6:
        return "The answer addresses what the question asked."
    if r >= 0.25:
        return "The answer touches the question but drifts from parts of it."
    return "The answer says little about what the question asked."


def _structure_note(story, m, missing):
    if not m["words"]:
        return "There is nothing to structure yet."
    if story:
        if not missing:
            return "Covers all four STAR parts: situation, task, action and result."
        return f"STAR parts missing: {', '.join(missing)}."
    if m["too_short"]:
        return "Too brief to have a clear beginning, reasoning and end."
    return "Clear enough flow for a question that isn't about one story."


def _specificity_note(m, outcome_numbers, vague):
    if outcome_numbers:
        return f"Concrete figures back it up: {', '.join(outcome_numbers[:3])}."
    if m["numbers"]:
        return f"Some concrete detail ({', '.join(m['numbers'][:2])}), but no measured impact."
    if vague:
        return f"Vague wording ({', '.join(vague[:3])}) stands in for detail."
    return "No figures or named specifics to make it concrete."


def _communication_note(m, fillers):
    if not m["words"]:
        return "No answer was given."
    if m["filler_rate"] >= 2.5:
        return f"Filler words ({', '.join(fillers[:3])}) at {m['filler_rate']} per 100 words distract from the content."
    if m["too_short"]:
        return f"Clear, but at {m['words']} words too brief to judge delivery."
    return "Clear and easy to follow, with few filler words."


def _fit_note(m, n_terms, owns, we_heavy):
    if n_terms and m["jd_terms_covered"]:
        return f"Connects to the role's requirements: {', '.join(m['jd_terms_covered'][:3])}."
    if n_terms:
        return f"Doesn't link to the role's requirements, such as {', '.join(m['jd_terms_missed'][:2])}."
    if we_heavy:
        return "Your own contribution is hidden behind \"we\"."
    if owns:
        return "Shows your own contribution clearly."
    return "Says little about how your experience fits this role."


def _strengths(m, story, outcome_numbers):
    found = []
    if story and m["star_count"] == 4:
        found.append("You told a complete STAR story: situation, task, action and result.")
    if outcome_numbers:
        found.append(f"You quantified the impact ({', '.join(outcome_numbers[:3])}).")
    if m["jd_terms_covered"]:
        found.append(f"You used the role's key terms: {', '.join(m['jd_terms_covered'][:4])}.")
    if m["ownership"] >= 0.6 and m["i_statements"] >= 3:
        found.append(f'You made your own part clear ("I" {m["i_statements"]} times, "we" {m["we_statements"]}).')
    if m["relevance"] >= 0.6 and m["words"] >= 15:
        found.append("You answered the question that was asked.")
    if m["filler_rate"] < 1 and m["words"] >= 60:
        found.append("Clean delivery with almost no filler words.")
    if m["star"]["result"] and not outcome_numbers:
        found.append("You said how things turned out.")
    if not found:
        found.append("You answered directly, which gives you something to build on." if m["words"] else "You reached this question, so there's a baseline to build on.")
    return found[:2]


def _improvements(m, story, outcome_numbers, has_question):
    found = []
    if not m["words"]:
        found.append("Give an answer: even a short example is better than none.")
    elif m["too_short"]:
        found.append(f"At {m['words']} words the answer is too short to show your experience; aim for 150–250 words around one example.")
    if m["filler_rate"] >= 5:
        found.append(f"Cut filler words ({_filler_list(m['filler_words'], 3)}, {m['filler_rate']} per 100 words); pause instead.")
    if m["vague_phrases"]:
        found.append(f"Replace vague words ({_quoted(m['vague_phrases'][:3])}) with specifics: names, numbers, steps.")
    if story and m["words"] and not m["has_outcome"]:
        found.append("Finish with the result: say what changed, ideally with a number (time saved, % improved, money).")
    if m["we_statements"] >= 2 and m["ownership"] < 0.4:
        found.append(f'Say what you did yourself: "we" appears {m["we_statements"]} times and "I" only {m["i_statements"]}.')
    if story and m["words"] and not m["star"]["action"]:
        found.append("Spell out the actions you personally took, step by step.")
    if 2.5 <= m["filler_rate"] < 5:
        found.append(f"Trim filler words ({_filler_list(m['filler_words'], 2)}).")
    if m["jd_terms_missed"] and len(m["jd_terms_covered"]) < 2:
        found.append(f"Link your example to the role's requirements where true, e.g. {', '.join(m['jd_terms_missed'][:3])}.")
    if has_question and m["words"] and m["relevance"] < 0.25:
        found.append("Answer the question asked more directly: name its topic in your first sentence.")
    if story and m["has_outcome"] and not outcome_numbers:
        found.append("Put a number on the result so the impact is measurable.")
    if m["words"] > 400:
        found.append(f"Tighten it: {m['words']} words is long; keep the situation to two sentences.")
    if not found:
        found.append("Keep the set-up to one or two sentences so most of the time goes on your actions and results.")
    return found[:2]


def _quoted(items):
    return ", ".join(f'"{x}"' for x in items)


def _filler_list(fillers, limit):
    """'"um" ×4, "like" ×3': the most frequent fillers first."""
    top = sorted(fillers.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return ", ".join(f'"{w}" ×{n}' for w, n in top)


def _star_remark(story, m, missing):
    if not m["words"]:
        return "STAR: no answer to assess."
    if not story:
        return "STAR matters less for this kind of question, but one concrete example would still strengthen it."
    present = [p for p, ok in m["star"].items() if ok]
    if not missing:
        return "STAR: all four parts (situation, task, action, result) were there."
    if not present:
        return "STAR: none of the parts came through; anchor the answer in one real situation."
    return f"STAR: you covered {', '.join(present)}; missing {', '.join(missing)}."


# ----- the final report -----

FOCUS_AREAS = {
    "relevance": {
        "area": "Relevance: answering the question asked",
        "next_steps": [
            "Before answering, restate the question in one sentence to yourself and name its topic in your first line.",
            "Choose your example by the question's key word (conflict, deadline, failure) rather than your favourite story.",
            "End by linking back: \"…and that's how I handled the conflict\".",
        ],
    },
    "structure": {
        "area": "Structure: the STAR method",
        "next_steps": [
            "Write STAR outlines (situation, task, action, result) for five stories you can reuse across questions.",
            "Keep situation and task to about 20% of the answer and spend most of it on your actions.",
            "Always finish with the result and one lesson learned.",
        ],
    },
    "specificity": {
        "area": "Specificity: numbers and concrete detail",
        "next_steps": [
            "For each story, note one figure: time saved, % improved, money, users, or team size.",
            "Name the tools, people's roles and steps instead of saying \"things\" or \"stuff\".",
            "Practise answering once, then again replacing every vague word with a specific one.",
        ],
    },
    "communication": {
        "area": "Communication: filler words and delivery",
        "next_steps": [
            "Record a two-minute answer, count your filler words, and repeat until the count halves.",
            "Replace \"um\" and \"like\" with a silent pause; pauses sound confident.",
            "Aim for 150–250 words per answer at a steady 120–160 words per minute.",
        ],
    },
    "role_fit": {
        "area": "Role fit: linking to the job's requirements",
        "next_steps": [
            "List the job description's top five skills and match a story to each.",
            "Use the job's own terms when they truly describe your work.",
            "Say clearly what you did, with \"I\", and how it would help in this role.",
        ],
    },
}


def _score(scores, dim):
    value = (scores or {}).get(dim)
    if isinstance(value, dict):
        value = value.get("score")
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def build_report(ctx, answered):
    """The local report narrative: patterns, strengths and focus areas from all answers."""
    if not answered:
        return ReportNarrative(
            patterns="No answers were recorded in this interview, so there are no patterns to report yet.",
            strengths=["You set up a practice interview, which is the first step.", "Your next session will give a baseline to measure progress from."],
            focus_areas=[
                {"area": FOCUS_AREAS["structure"]["area"], "why": "No answers were given to assess.", "next_steps": FOCUS_AREAS["structure"]["next_steps"][:3]},
                {"area": FOCUS_AREAS["relevance"]["area"], "why": "Start by answering each question, even briefly.", "next_steps": FOCUS_AREAS["relevance"]["next_steps"][:2]},
            ],
        )
    metrics = [a.metrics or analyse(a.question, a.answer, ctx.job_description, ctx.job_role) for a in answered]
    n = len(answered)
    avg = {}
    for dim in DIMENSIONS:
        values = [v for v in (_score(a.scores, dim) for a in answered) if v is not None]
        avg[dim] = round(mean(values), 1) if values else None
    scored = {d: v for d, v in avg.items() if v is not None}
    total_words = sum(m.get("words", 0) for m in metrics)
    avg_words = round(total_words / n)
    fillers = {}
    for m in metrics:
        for w, c in (m.get("filler_words") or {}).items():
            fillers[w] = fillers.get(w, 0) + c
    filler_total = sum(fillers.values())
    filler_rate = round(filler_total * 100 / total_words, 1) if total_words else 0.0
    with_result = sum(1 for m in metrics if (m.get("star") or {}).get("result"))
    with_numbers = sum(1 for m in metrics if m.get("numbers"))
    short = sum(1 for m in metrics if m.get("too_short"))
    covered = list(dict.fromkeys(t for m in metrics for t in m.get("jd_terms_covered", [])))
    all_terms = key_terms(ctx.job_description, ctx.job_role) if ctx.job_description else []
    missed = [t for t in all_terms if t not in covered]
    own = [m.get("ownership", 0) for m in metrics if m.get("i_statements", 0) + m.get("we_statements", 0)]
    avg_own = mean(own) if own else 0.0

    parts = [f"Across {n} answer{'s' if n != 1 else ''} you averaged {avg_words} words."]
    if scored:
        best = max(sorted(scored), key=lambda d: scored[d])
        worst = min(sorted(scored), key=lambda d: scored[d])
        parts.append(f"Your strongest dimension was {best.replace('_', ' ')} ({scored[best]}/5) and your weakest {worst.replace('_', ' ')} ({scored[worst]}/5).")
    parts.append(f"{with_result} of {n} stated a result and {with_numbers} included figures.")
    if short:
        parts.append(f"{short} answer{'s were' if short != 1 else ' was'} under 40 words.")
    if filler_total:
        parts.append(f"Filler words: {_filler_list(fillers, 3)} ({filler_rate} per 100 words).")
    if all_terms:
        parts.append(
            f"You covered {len([t for t in all_terms if t in covered])} of {len(all_terms)} job-description terms"
            + (f" ({', '.join(covered[:5])})" if covered else "")
            + (f"; not mentioned: {', '.join(missed[:5])}." if missed else ".")
        )
    if own:
        parts.append(f"On average {round(avg_own * 100)}% of your first-person statements were \"I\" rather than \"we\".")
    patterns = " ".join(parts)

    strengths = []
    labels = {"relevance": "You stayed on the question", "structure": "Your answers were well structured",
              "specificity": "You gave concrete, specific detail", "communication": "You communicated clearly",
              "role_fit": "You connected your experience to the role"}
    for dim in sorted(scored, key=lambda d: (-scored[d], DIMENSIONS.index(d))):
        if scored[dim] >= 3.5:
            strengths.append(f"{labels[dim]} (average {scored[dim]}/5).")
    if with_numbers and with_numbers >= n / 2:
        strengths.append(f"You backed up {with_numbers} of {n} answers with figures.")
    if covered:
        strengths.append(f"You used the job's language: {', '.join(covered[:4])}.")
    if filler_total == 0 and total_words >= 100:
        strengths.append("Your delivery was free of filler words.")
    if avg_own >= 0.6 and own:
        strengths.append("You made your personal contribution clear.")
    if len(strengths) < 2:
        strengths.append(f"You answered all {n} questions, which gives a clear baseline to improve on.")
    if len(strengths) < 2:
        best = max(sorted(scored), key=lambda d: scored[d]) if scored else "relevance"
        strengths.append(f"Your best dimension, {best.replace('_', ' ')}, is the one to build on.")
    strengths = strengths[:4]

    whys = {
        "relevance": f"Relevance averaged {avg.get('relevance')}/5: several answers drifted from the question.",
        "structure": f"Structure averaged {avg.get('structure')}/5; {with_result} of {n} answers stated a result.",
        "specificity": f"Specificity averaged {avg.get('specificity')}/5; only {with_numbers} of {n} answers included figures.",
        "communication": f"Communication averaged {avg.get('communication')}/5 with {filler_total} filler words ({filler_rate} per 100 words).",
        "role_fit": (
            f"Role fit averaged {avg.get('role_fit')}/5"
            + (f"; the job's terms {', '.join(missed[:3])} never came up." if missed else ".")
        ),
    }
    ranked = sorted(scored, key=lambda d: (scored[d], DIMENSIONS.index(d))) or list(DIMENSIONS)
    weak = [d for d in ranked if scored.get(d, 0) < 3.5]
    # Always give at least two areas: a strong candidate still has a next level.
    chosen = (weak + [d for d in ranked if d not in weak])[: max(2, min(4, len(weak)))]
    focus = []
    for dim in chosen:
        spec = FOCUS_AREAS[dim]
        why = whys[dim] if scored.get(dim, 0) < 3.5 else f"{labels[dim]}, but at {scored.get(dim)}/5 this is your next level up."
        focus.append({"area": spec["area"], "why": why, "next_steps": spec["next_steps"][:3]})
    return ReportNarrative(patterns=patterns, strengths=strengths, focus_areas=focus, source="local", usage=Usage())
