"""The built-in report: patterns, strengths and focus areas across all answers."""

from statistics import mean

from interviews.engine.analysis import analyse, key_terms
from interviews.engine.base import DIMENSIONS, ReportNarrative, Usage, score_of
from interviews.engine.local.coach import filler_list


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


# How a strong dimension reads among the report's strengths.
STRENGTH_LABELS = {
    "relevance": "You stayed on the question",
    "structure": "Your answers were well structured",
    "specificity": "You gave concrete, specific detail",
    "communication": "You communicated clearly",
    "role_fit": "You connected your experience to the role",
}


def build_report(ctx, answered):
    """The local report narrative: patterns, strengths and focus areas from all answers."""
    if not answered:
        return _empty_report()
    t = _Totals(ctx, answered)
    return ReportNarrative(
        patterns=_patterns(t), strengths=_strengths(t), focus_areas=_focus_areas(t), source="local", usage=Usage()
    )


def _empty_report():
    return ReportNarrative(
        patterns="No answers were recorded in this interview, so there are no patterns to report yet.",
        strengths=["You set up a practice interview, which is the first step.", "Your next session will give a baseline to measure progress from."],
        focus_areas=[
            {"area": FOCUS_AREAS["structure"]["area"], "why": "No answers were given to assess.", "next_steps": FOCUS_AREAS["structure"]["next_steps"][:3]},
            {"area": FOCUS_AREAS["relevance"]["area"], "why": "Start by answering each question, even briefly.", "next_steps": FOCUS_AREAS["relevance"]["next_steps"][:2]},
        ],
    )


class _Totals:
    """The figures the narrative quotes, across every answer."""

    def __init__(self, ctx, answered):
        metrics = [a.metrics or analyse(a.question, a.answer, ctx.job_description, ctx.job_role) for a in answered]
        self.n = n = len(answered)
        self.avg = {}
        for dim in DIMENSIONS:
            values = [v for v in (score_of(a.scores, dim) for a in answered) if v is not None]
            self.avg[dim] = round(mean(values), 1) if values else None
        self.scored = {d: v for d, v in self.avg.items() if v is not None}
        self.total_words = sum(m.get("words", 0) for m in metrics)
        self.avg_words = round(self.total_words / n)
        self.fillers = {}
        for m in metrics:
            for w, c in (m.get("filler_words") or {}).items():
                self.fillers[w] = self.fillers.get(w, 0) + c
        self.filler_total = sum(self.fillers.values())
        self.filler_rate = round(self.filler_total * 100 / self.total_words, 1) if self.total_words else 0.0
        self.with_result = sum(1 for m in metrics if (m.get("star") or {}).get("result"))
        self.with_numbers = sum(1 for m in metrics if m.get("numbers"))
        self.short = sum(1 for m in metrics if m.get("too_short"))
        self.covered = list(dict.fromkeys(t for m in metrics for t in m.get("jd_terms_covered", [])))
        self.all_terms = key_terms(ctx.job_description, ctx.job_role) if ctx.job_description else []
        self.missed = [t for t in self.all_terms if t not in self.covered]
        self.own = [m.get("ownership", 0) for m in metrics if m.get("i_statements", 0) + m.get("we_statements", 0)]
        self.avg_own = mean(self.own) if self.own else 0.0


def _patterns(t):
    n, scored = t.n, t.scored
    parts = [f"Across {n} answer{'s' if n != 1 else ''} you averaged {t.avg_words} words."]
    if scored:
        best = max(sorted(scored), key=lambda d: scored[d])
        worst = min(sorted(scored), key=lambda d: scored[d])
        parts.append(f"Your strongest dimension was {best.replace('_', ' ')} ({scored[best]}/5) and your weakest {worst.replace('_', ' ')} ({scored[worst]}/5).")
    parts.append(f"{t.with_result} of {n} stated a result and {t.with_numbers} included figures.")
    if t.short:
        parts.append(f"{t.short} answer{'s were' if t.short != 1 else ' was'} under 40 words.")
    if t.filler_total:
        parts.append(f"Filler words: {filler_list(t.fillers, 3)} ({t.filler_rate} per 100 words).")
    if t.all_terms:
        parts.append(
            f"You covered {len([x for x in t.all_terms if x in t.covered])} of {len(t.all_terms)} job-description terms"
            + (f" ({', '.join(t.covered[:5])})" if t.covered else "")
            + (f"; not mentioned: {', '.join(t.missed[:5])}." if t.missed else ".")
        )
    if t.own:
        parts.append(f"On average {round(t.avg_own * 100)}% of your first-person statements were \"I\" rather than \"we\".")
    return " ".join(parts)


def _strengths(t):
    n, scored = t.n, t.scored
    strengths = []
    for dim in sorted(scored, key=lambda d: (-scored[d], DIMENSIONS.index(d))):
        if scored[dim] >= 3.5:
            strengths.append(f"{STRENGTH_LABELS[dim]} (average {scored[dim]}/5).")
    if t.with_numbers and t.with_numbers >= n / 2:
        strengths.append(f"You backed up {t.with_numbers} of {n} answers with figures.")
    if t.covered:
        strengths.append(f"You used the job's language: {', '.join(t.covered[:4])}.")
    if t.filler_total == 0 and t.total_words >= 100:
        strengths.append("Your delivery was free of filler words.")
    if t.avg_own >= 0.6 and t.own:
        strengths.append("You made your personal contribution clear.")
    if len(strengths) < 2:
        strengths.append(f"You answered all {n} questions, which gives a clear baseline to improve on.")
    if len(strengths) < 2:
        best = max(sorted(scored), key=lambda d: scored[d]) if scored else "relevance"
        strengths.append(f"Your best dimension, {best.replace('_', ' ')}, is the one to build on.")
    return strengths[:4]


def _focus_areas(t):
    scored = t.scored
    ranked = sorted(scored, key=lambda d: (scored[d], DIMENSIONS.index(d))) or list(DIMENSIONS)
    weak = [d for d in ranked if scored.get(d, 0) < 3.5]
    # Always give at least two areas: a strong candidate still has a next level.
    chosen = (weak + [d for d in ranked if d not in weak])[: max(2, min(4, len(weak)))]
    focus = []
    for dim in chosen:
        spec = FOCUS_AREAS[dim]
        if scored.get(dim, 0) < 3.5:
            why = _weakness(t, dim)
        else:
            why = f"{STRENGTH_LABELS[dim]}, but at {scored.get(dim)}/5 this is your next level up."
        focus.append({"area": spec["area"], "why": why, "next_steps": spec["next_steps"][:3]})
    return focus


def _weakness(t, dim):
    """Why a weak dimension is a focus area, in the report's figures."""
    avg, n = t.avg, t.n
    if dim == "relevance":
        return f"Relevance averaged {avg.get('relevance')}/5: several answers drifted from the question."
    if dim == "structure":
        return f"Structure averaged {avg.get('structure')}/5; {t.with_result} of {n} answers stated a result."
    if dim == "specificity":
        return f"Specificity averaged {avg.get('specificity')}/5; only {t.with_numbers} of {n} answers included figures."
    if dim == "communication":
        return f"Communication averaged {avg.get('communication')}/5 with {t.filler_total} filler words ({t.filler_rate} per 100 words)."
    return f"Role fit averaged {avg.get('role_fit')}/5" + (f"; the job's terms {', '.join(t.missed[:3])} never came up." if t.missed else ".")
