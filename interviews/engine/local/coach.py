"""The built-in coach: an answer's scores, notes, strengths and improvements,
each derived from the analysis metrics (engine.analysis)."""

import re
from statistics import mean

from interviews.engine.analysis import (
    MAX_ANSWER_CHARS,
    MAX_QUESTION_CHARS,
    OUTCOME_NUMBER_RE,
    PLAN_RES,
    STAR_RES,
    analyse,
    content_stems,
    filler_counts,
    find_numbers,
    question_core,
    sentences_of,
    skill_terms,
    vague_phrases,
)
from interviews.engine.base import DIMENSIONS, CoachResult, Usage
from interviews.engine.questions import GENERAL, SCREEN_KIND, SITUATIONAL_KIND, STORY, TECHNICAL_KIND, question_kind
from interviews.engine.rewrite import build as build_rewrite, ground


# A screening answer needs a few words at least, and stays concise under this many.
SCREEN_MIN_WORDS = 4
SCREEN_CONCISE_WORDS = 120
# First words that answer a screening question head-on ("Because…", "I'm looking for…", "Yes, …").
DIRECT_RE = re.compile(
    r"\s*(?:because|yes|no|i want|i'd like|i would like|i'm looking|i am looking|i can|i could|i'm available|"
    r"i am available|my notice|my current|i have|i'm|i am)\b",
    re.I,
)
SCREEN_FIT_NOTE = "A screening answer need not name the job's skills; judged on answering what was asked."
FALLBACK_STRENGTHS = (
    "You answered directly, which gives you something to build on.",
    "You reached this question, so there's a baseline to build on.",
)
STORY_DEFAULT_TIP = "Keep the set-up to one or two sentences so most of the time goes on your actions and results."
KIND_DEFAULT_TIPS = {
    STORY: STORY_DEFAULT_TIP,
    SITUATIONAL_KIND: "Name who you would involve at each step, and what would make you change course.",
    TECHNICAL_KIND: "Add one concrete example of doing this, with what happened.",
    SCREEN_KIND: "Keep it this brief: the fact and a sentence of context is right for a screen.",
    GENERAL: "Back it up with one concrete example from your own work.",
}
PLAN_PARTS = {
    "actions": "what you would do",
    "order": "the order of the steps",
    "reasons": "why",
    "follow_through": "how you'd check it worked",
}


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
    # Structure is judged by what the question asks for: STAR for a story, a plan
    # for "what would you do", reasoning for a technical question, brief facts for a screen.
    kind = question_kind(question, ctx.interview_type) if question else STORY
    if kind == SCREEN_KIND:
        # "What is your notice period?" wants a sentence, not 150 words: brevity is no flaw here.
        m = {**m, "too_short": m["words"] < SCREEN_MIN_WORDS}
    f = _Facts(question, answer, m, kind)
    scores = {
        "relevance": _scored(f, _relevance(f), _relevance_evidence, _relevance_note(f.relevance, f.words)),
        "structure": _scored(f, _structure(f), _structure_evidence, _structure_note(f, m, f.stars_missing)),
        "specificity": _scored(f, _specificity(f), _specificity_evidence, _kind_specificity_note(f) or _specificity_note(m, f.outcome_numbers, f.vague)),
        "communication": _scored(f, _communication(f), _communication_evidence, _communication_note(m, f.fillers)),
        "role_fit": _scored(f, _role_fit(f), _fit_evidence, SCREEN_FIT_NOTE if kind == SCREEN_KIND else _fit_note(m, f.n_terms, f.owns, f.we_heavy)),
    }
    assert set(scores) == set(DIMENSIONS)
    own = _kind_strengths(f)
    # Screening figures are facts (a salary, a notice period), not impact to praise.
    general_strengths = _strengths(m, f.story, [] if kind == SCREEN_KIND else f.outcome_numbers)
    strengths = (own + [x for x in general_strengths if not (own and x in FALLBACK_STRENGTHS)])[:2]
    # A screening answer ("four weeks' notice") has no job-description terms to link.
    general = {**m, "jd_terms_missed": []} if kind == SCREEN_KIND else m
    own = _kind_improvements(f)
    general_improvements = _improvements(general, f.story, f.outcome_numbers, bool(question))
    # The default tip is about a story's set-up; other kinds have their own.
    improvements = (own + [x for x in general_improvements if f.story or x != STORY_DEFAULT_TIP])[:2] or [KIND_DEFAULT_TIPS[kind]]
    text = " ".join(
        [
            _impression(mean(s["score"] for s in scores.values())),
            "Strengths: " + " ".join(strengths),
            "To improve: " + " ".join(improvements),
            _star_remark(f.story, m, f.stars_missing) if f.kind in (STORY, GENERAL) else _kind_remark(f),
        ]
    )
    # The rewrite is checked like a model's, though it only moves the candidate's own words.
    rewrite = ground(build_rewrite(question, answer, ctx.resume), answer, ctx.resume)
    return CoachResult(scores=scores, strengths=strengths, improvements=improvements, text=text, source="local", usage=Usage(), rewrite=rewrite)


class _Facts:
    """What the scores, their evidence and their notes read from one answer."""

    def __init__(self, question, answer, m, kind=STORY):
        self.question, self.answer, self.m = question, answer, m
        self.kind = kind
        self.story = kind == STORY
        self.words = m["words"]
        self.relevance = m["relevance"] if question else (1.0 if self.words else 0.0)
        self.outcome_numbers = [x for x in m["numbers"] if OUTCOME_NUMBER_RE.search(x)]
        self.skills = skill_terms(answer)
        self.q_stems = content_stems(question_core(question))
        self.owns = m["i_statements"] >= 2 and m["ownership"] >= 0.5
        self.we_heavy = m["we_statements"] >= 2 and m["ownership"] < 0.34
        self.n_terms = len(m["jd_terms_covered"]) + len(m["jd_terms_missed"])
        self.covered = [t.lower() for t in m["jd_terms_covered"]]
        self.fillers = list(m["filler_words"])
        self.vague = m["vague_phrases"]
        self.stars_missing = [p for p, ok in m["star"].items() if not ok]
        self.plan = m.get("plan") or {}
        self.plan_missing = [p for p in PLAN_RES if not self.plan.get(p)]
        spans = sentences_of(answer)
        first = answer[spans[0][0] : spans[0][1]] if spans else ""
        # A screening answer is direct when its first sentence gives the fact (a figure) or names what was asked.
        self.direct = bool(first) and len(first.split()) <= 35 and (
            bool(find_numbers(first)) or bool(self.q_stems & content_stems(first, noise=frozenset())) or bool(DIRECT_RE.match(first))
        )


def _scored(f, score, evidence_score, note):
    """One dimension's entry; an empty answer scores 1 everywhere."""
    return {
        "score": _clamp(score) if f.words else 1,
        "evidence": _evidence(f.answer, lambda s: evidence_score(f, s)),
        "note": note,
    }


def _impression(average):
    if average >= 4.2:
        return "A strong, well-evidenced answer."
    if average >= 3.2:
        return "A solid answer with room to sharpen."
    if average >= 2.2:
        return "The right intent, but too little evidence yet."
    return "A thin answer that doesn't yet show your experience."


# ----- each dimension's score -----


def _relevance(f):
    r = f.relevance
    rel = 5 if r >= 0.6 else 4 if r >= 0.4 else 3 if r >= 0.25 else 2 if r > 0 else 1
    if f.kind == SCREEN_KIND and f.direct:
        rel = max(rel, 4)
    if f.words < (SCREEN_MIN_WORDS if f.kind == SCREEN_KIND else 15):
        return min(rel, 2)
    if f.m["too_short"]:
        return min(rel, 3)
    return rel


def _structure(f):
    m = f.m
    if f.story:
        struct = 1 + m["star_count"]
    elif f.kind == SITUATIONAL_KIND:
        struct = 1 + sum(1 for p in PLAN_RES if f.plan.get(p))
    elif f.kind == TECHNICAL_KIND:
        specifics = bool(m["numbers"] or f.skills or m["jd_terms_covered"])
        struct = 2 + bool(f.plan.get("order")) + bool(f.plan.get("reasons")) + specifics
    elif f.kind == SCREEN_KIND:
        struct = 3 + f.direct + (f.words <= SCREEN_CONCISE_WORDS) - (f.words > 2 * SCREEN_CONCISE_WORDS)
    else:
        reasoning = bool(re.search(r"\b(because|so that|which is why|for example|for instance|first|second|finally)\b", f.answer, re.I))
        struct = 2 + (m["sentences"] >= 2) + (f.words >= 60) + reasoning
    if m["too_short"]:
        # A complete plan can be said in a few sentences; a story cannot.
        struct = min(struct, 3 if f.kind == SITUATIONAL_KIND else 2)
    if f.words > 450:
        struct -= 1
    return struct


def _specificity(f):
    m = f.m
    if f.kind == SCREEN_KIND:
        # The facts asked for (a figure, a date, a reason), not measured results.
        return 3 + bool(m["numbers"]) + (f.direct and not f.vague) - min(2, len(f.vague)) - (1 if m["too_short"] else 0)
    if f.kind == SITUATIONAL_KIND:
        # A plan is specific when it names its steps and the people and tools involved, not results.
        parts = sum(1 for p in PLAN_RES if f.plan.get(p))
        spec = 2 + (2 if parts >= 3 else 1 if parts == 2 else 0) + (1 if m["numbers"] or f.skills or m["jd_terms_covered"] else 0)
        return spec - min(2, len(m["vague_phrases"])) - (1 if m["too_short"] else 0)
    spec = 2 + (2 if f.outcome_numbers else 1 if m["numbers"] else 0) + (1 if m["jd_terms_covered"] or f.skills else 0)
    spec += 1 if m["star"]["action"] and m["i_statements"] else 0
    spec -= min(2, len(m["vague_phrases"]))
    spec -= 1 if m["too_short"] else 0
    return spec


def _communication(f):
    m, words = f.m, f.words
    rate = m["filler_rate"]
    comm = 4 - (3 if rate >= 10 else 2 if rate >= 5 else 1 if rate >= 2.5 else 0)
    if f.kind == SCREEN_KIND:
        comm -= 2 if m["too_short"] else 1 if words > 2 * SCREEN_CONCISE_WORDS else 0
    else:
        comm -= 2 if words < 20 else 1 if m["too_short"] else 0
    if m["sentences"] and words / m["sentences"] > 40:
        comm -= 1
    wpm = m.get("words_per_minute")
    if wpm and (wpm < 100 or wpm > 190) and words >= 20:
        comm -= 1
    if rate < 1.5 and words >= 60 and m["sentences"] >= 3:
        comm += 1
    return comm


def _role_fit(f):
    m = f.m
    if f.kind == SCREEN_KIND:
        # Facts about pay or notice need not name the job's skills.
        return 3 + (1 if f.direct else 0) + (0.5 if m["jd_terms_covered"] else 0) - (1 if m["too_short"] else 0)
    if f.n_terms:
        n = len(m["jd_terms_covered"])
        fit = 4 if n >= 3 else 3.5 if n == 2 else 3 if n == 1 else 2
    else:
        fit = 2.5 + (0.5 if f.skills else 0)
    return fit + (1 if f.owns else 0) - (1 if f.we_heavy else 0) + (0.5 if m["has_outcome"] else 0) - (1 if m["too_short"] else 0)


# ----- which sentence is each score's evidence -----


def _relevance_evidence(f, s):
    return len(f.q_stems & content_stems(s, noise=frozenset()))


def _specificity_evidence(f, s):
    return 3 * len(find_numbers(s)) + sum(1 for t in f.covered if t in s) - (0 if (f.outcome_numbers or f.covered) else -len(vague_phrases(s)))


def _communication_evidence(f, s):
    if f.m["filler_rate"] >= 2.5:
        return sum(filler_counts(s).values())
    return -abs(len(s.split()) - 18)  # the clearest, mid-length sentence


def _fit_evidence(f, s):
    return 2 * sum(1 for t in f.covered if t in s) + len(re.findall(r"\bi\b", s))


def _structure_evidence(f, s):
    if f.kind in (SITUATIONAL_KIND, TECHNICAL_KIND):
        return sum(1 for res in PLAN_RES.values() if any(rx.search(s) for rx in res))
    return 2 * _star_parts(s) + (3 if any(rx.search(s) for rx in STAR_RES["result"]) else 0)


# ----- the notes, strengths and improvements -----


def _relevance_note(r, words):
    if not words:
        return "No answer was given."
    if r >= 0.6:
        return "The answer addresses what the question asked."
    if r >= 0.25:
        return "The answer touches the question but drifts from parts of it."
    return "The answer says little about what the question asked."


def _structure_note(f, m, missing):
    story = f.story
    if not m["words"]:
        return "There is nothing to structure yet."
    if f.kind == SITUATIONAL_KIND:
        if not f.plan_missing:
            return "A clear plan: what you'd do, in order, why, and how you'd check it worked."
        return f"Judged as a plan, not a STAR story; missing: {', '.join(PLAN_PARTS[p] for p in f.plan_missing)}."
    if f.kind == TECHNICAL_KIND:
        if m["too_short"]:
            return "Too brief to show the reasoning: give the steps, and why each one."
        if f.plan.get("order") and f.plan.get("reasons"):
            return "Explains the approach step by step, and why."
        return "Judged on the reasoning: say the steps in order and why each one."
    if f.kind == SCREEN_KIND:
        if f.words > 2 * SCREEN_CONCISE_WORDS:
            return "Long for a screening question: give the fact first, then one sentence of context."
        if not f.direct:
            return "Lead with the answer itself (the figure, the date or the reason), then a sentence of context."
        return "Short and direct, as a screening answer should be: the facts first."
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
        found.append(f"Cut filler words ({filler_list(m['filler_words'], 3)}, {m['filler_rate']} per 100 words); pause instead.")
    if m["vague_phrases"]:
        found.append(f"Replace vague words ({_quoted(m['vague_phrases'][:3])}) with specifics: names, numbers, steps.")
    if story and m["words"] and not m["has_outcome"]:
        found.append("Finish with the result: say what changed, ideally with a number (time saved, % improved, money).")
    if m["we_statements"] >= 2 and m["ownership"] < 0.4:
        found.append(f'Say what you did yourself: "we" appears {m["we_statements"]} times and "I" only {m["i_statements"]}.')
    if story and m["words"] and not m["star"]["action"]:
        found.append("Spell out the actions you personally took, step by step.")
    if 2.5 <= m["filler_rate"] < 5:
        found.append(f"Trim filler words ({filler_list(m['filler_words'], 2)}).")
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


def filler_list(fillers, limit):
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



# ----- by the kind of question -----


def _kind_strengths(f):
    if not f.words:
        return []
    if f.kind == SITUATIONAL_KIND and not f.plan_missing:
        return ["You laid out a clear plan: what you'd do, in order, why, and how you'd check it."]
    if f.kind == SCREEN_KIND and f.direct and f.words <= SCREEN_CONCISE_WORDS:
        return ["You answered the screening question directly and briefly."]
    if f.kind == TECHNICAL_KIND and f.plan.get("reasons") and f.plan.get("order"):
        return ["You explained your approach step by step and said why."]
    return []


def _kind_improvements(f):
    if not f.words:
        return []
    found = []
    if f.kind == SITUATIONAL_KIND:
        if not f.plan.get("actions"):
            found.append('Say what you would do yourself ("I would…"), not only what should happen.')
        if not f.plan.get("order"):
            found.append("Put the steps in order: what you'd do first, next and last.")
        if not f.plan.get("reasons"):
            found.append('Give the reason for each step ("because…", "so that…").')
        if not f.plan.get("follow_through"):
            found.append("End with how you'd check it worked, or what you'd do if it didn't.")
    elif f.kind == TECHNICAL_KIND:
        if not f.plan.get("reasons"):
            found.append("Explain why: the trade-off behind your choice, and what you'd watch out for.")
        if not f.plan.get("order"):
            found.append("Walk through your approach step by step.")
    elif f.kind == SCREEN_KIND:
        if f.words > 2 * SCREEN_CONCISE_WORDS:
            found.append(f"Keep screening answers short: the fact first, one sentence of context ({f.words} words here).")
        elif not f.direct:
            found.append("Open with the answer itself (the figure, the date or the reason), then add context.")
    return found


def _kind_remark(f):
    if not f.words:
        return "No answer to assess."
    if f.kind == SITUATIONAL_KIND:
        if not f.plan_missing:
            return "Situational question, judged as a plan: all four parts were there."
        return f"Situational question, judged as a plan rather than a STAR story; missing: {', '.join(PLAN_PARTS[p] for p in f.plan_missing)}."
    if f.kind == SCREEN_KIND:
        return "Screening question: no STAR story needed, just the facts, briefly."
    return "Technical question: judged on the reasoning (the steps, and why), not on STAR."


def _kind_specificity_note(f):
    if f.kind == SCREEN_KIND:
        if f.m["numbers"]:
            return f"Gives the facts asked for: {', '.join(f.m['numbers'][:2])}."
        return "Gives a plain answer." if f.direct else "The answer doesn't state the fact asked for."
    if f.kind == SITUATIONAL_KIND:
        parts = [PLAN_PARTS[p] for p in PLAN_RES if f.plan.get(p)]
        return f"The plan covers {', '.join(parts)}." if parts else "No concrete steps yet: say what you would actually do."
    return ""
