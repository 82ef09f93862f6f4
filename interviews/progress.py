"""Progress over time: a candidate's finished reports side by side, and the
"Drill my weak spots" interview built from them.

Everything here reads the stored reports (Interview.summary, built by
interviews.report) and the coach's feedback; nothing calls a model. Every query
is filtered by owner: one candidate never sees another's history.
"""

import re
from collections import Counter
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from interviews.engine import questions as bank
from interviews.engine.analysis import display_term, question_core
from interviews.engine.base import DIMENSION_LABELS, DIMENSIONS
from interviews.models import Feedback, Interview, Turn

# The chart and the tallies read the most recent reports only: a long history
# would make the chart unreadable and the page slow.
HISTORY_LIMIT = 20
# The weakest dimension is judged on recent interviews, so old habits the
# candidate has since fixed do not keep coming back.
RECENT_WINDOW = 5
MISSED_TERMS_SHOWN = 5
DRILL_DIMENSIONS = 2
DRILL_TERMS = 3
DRILL_QUESTIONS = 2
# Caps on stored text read back into a drill (questions, terms).
MAX_QUESTION_CHARS = 500
MAX_TERM_CHARS = 60
MAX_TERMS_PER_REPORT = 50


@dataclass
class Point:
    """One finished interview on the chart."""

    interview_id: str
    number: int  # 1 = the oldest interview shown
    date: object
    role: str
    overall: int | None  # 0-100
    dimensions: dict  # key -> 1..5
    missed_terms: list = field(default_factory=list)


@dataclass
class Progress:
    points: list  # oldest first
    weakest: dict | None  # {"key", "label", "average", "count"}
    missed_terms: list  # [{"term", "label", "count"}], most often missed first

    @property
    def has_trend(self):
        return len(self.points) >= 2

    @property
    def labels(self):
        return list(DIMENSION_LABELS.values())

    @property
    def history_limit(self):
        return HISTORY_LIMIT

    def table(self):
        """The charts' text alternative: one row per interview, every dimension in rubric order."""
        return [{"point": p, "values": [p.dimensions.get(d) for d in DIMENSIONS]} for p in self.points]


def _number(value, low, high):
    """A finite number within [low, high], or None: summaries are read defensively."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if low <= value <= high else None


def _terms(summary):
    """The report's missed job-description terms, cleaned: anything but a list of strings is ignored."""
    jd_terms = summary.get("jd_terms")
    missed = jd_terms.get("missed") if isinstance(jd_terms, dict) else None
    if not isinstance(missed, list):
        return []
    terms = [t.strip().lower()[:MAX_TERM_CHARS] for t in missed[:MAX_TERMS_PER_REPORT] if isinstance(t, str) and t.strip()]
    return list(dict.fromkeys(terms))


def reported_interviews(user, limit=HISTORY_LIMIT):
    """The user's finished interviews with a built report, newest first."""
    return list(
        Interview.objects.filter(owner_id=user.pk, summary_status=Interview.SummaryStatus.READY)
        .exclude(status=Interview.Status.ACTIVE)
        .only("id", "owner_id", "job_role", "created_at", "overall_score", "summary")
        .order_by("-created_at")[:limit]
    )


def points_for(interviews):
    """Chart points, oldest first, for interviews that were scored at all."""
    points = []
    for interview in reversed(interviews):
        summary = interview.summary if isinstance(interview.summary, dict) else {}
        raw = summary.get("dimensions") if isinstance(summary.get("dimensions"), dict) else {}
        dims = {d: _number(raw.get(d), 1, 5) for d in DIMENSIONS}
        dims = {d: round(v, 2) for d, v in dims.items() if v is not None}
        overall = _number(interview.overall_score, 0, 100)
        if overall is None and not dims:
            continue  # ended before any answer: nothing to plot
        points.append(
            Point(
                interview_id=str(interview.id),
                number=len(points) + 1,
                date=timezone.localdate(interview.created_at),
                role=interview.job_role,
                overall=None if overall is None else int(overall),
                dimensions=dims,
                missed_terms=_terms(summary),
            )
        )
    return points


def dimension_averages(points):
    """Each dimension's average over the most recent points, with how many scored it."""
    recent = points[-RECENT_WINDOW:]
    averages = {}
    for d in DIMENSIONS:
        values = [p.dimensions[d] for p in recent if d in p.dimensions]
        if values:
            averages[d] = (round(sum(values) / len(values), 1), len(values))
    return averages


def weakest_dimensions(points, n=1):
    """The n lowest-scoring dimensions of recent interviews (ties in rubric order)."""
    averages = dimension_averages(points)
    ranked = sorted(averages, key=lambda d: (averages[d][0], DIMENSIONS.index(d)))
    return [
        {"key": d, "label": DIMENSION_LABELS[d], "average": averages[d][0], "count": averages[d][1]}
        for d in ranked[:n]
    ]


def most_missed_terms(points, n=MISSED_TERMS_SHOWN):
    """Job-description terms missed in the most interviews (each interview counts once)."""
    counts = Counter(t for p in points for t in p.missed_terms)
    ranked = sorted(counts.items(), key=lambda tc: (-tc[1], tc[0]))[:n]
    return [{"term": t, "label": display_term(t), "count": c} for t, c in ranked]


def for_user(user):
    points = points_for(reported_interviews(user))
    weakest = weakest_dimensions(points)
    return Progress(points=points, weakest=weakest[0] if weakest else None, missed_terms=most_missed_terms(points))


# ----- Drill my weak spots -----


def lowest_scored_questions(user, interview_ids, n=DRILL_QUESTIONS):
    """Main questions the user answered worst in these interviews, as focus
    "questions" entries: [{"text": the question itself, "from_turn": answer turn id}]."""
    questions = {
        (t.interview_id, t.index): _question_asked(t)
        for t in Turn.objects.filter(
            interview__owner_id=user.pk, interview_id__in=interview_ids, kind__in=Turn.MAIN_QUESTION_KINDS
        ).only("interview_id", "index", "kind", "text")
    }
    feedbacks = (
        Feedback.objects.filter(
            turn__interview__owner_id=user.pk,
            turn__interview_id__in=interview_ids,
            turn__speaker=Turn.Speaker.CANDIDATE,
            status=Feedback.Status.READY,
        )
        .select_related("turn")
        .only("scores", "turn__id", "turn__interview_id", "turn__index")
    )
    best = {}  # question, lower-cased -> (best average over its answers, answer turn id, question)
    for feedback in feedbacks:
        core = questions.get((feedback.turn.interview_id, feedback.turn.index - 1))
        average = feedback.average_score()
        if not core or average is None:
            continue  # a follow-up's answer, or nothing scored
        seen = best.get(core.lower())
        if seen is None or average > seen[0]:
            best[core.lower()] = (average, feedback.turn.id, core)
    ranked = sorted(best.values(), key=lambda item: (item[0], item[1]))
    return [{"text": core, "from_turn": turn_id} for _, turn_id, core in ranked[:n]]


def _question_asked(turn):
    """What a main question asked, without the greeting or acknowledgement around it."""
    text = turn.text[: MAX_QUESTION_CHARS * 8]
    if turn.kind == Turn.Kind.INTRODUCTION:
        opening = _after_introduction(text)
        if opening:
            return " ".join(opening.split())[:MAX_QUESTION_CHARS]
    return " ".join(question_core(text).split())[:MAX_QUESTION_CHARS]


def _after_introduction(text):
    """The built-in interviewer's opening question: what follows its introduction's
    fixed words (the part of the template after its last placeholder); "" if none matches."""
    for templates in bank.INTRODUCTIONS.values():
        for template in templates:
            fixed = re.split(r"\{[a-z_]+\}", template.split("{question}")[0])[-1].strip()
            if len(fixed) > 20 and fixed in text:
                return text[text.index(fixed) + len(fixed):].strip()
    return ""


def drill_focus(user):
    """What a drill targets, from the user's reports; None before any scored interview."""
    points = points_for(reported_interviews(user))
    return _focus_from(user, points) if points else None


def _focus_from(user, points):
    return {
        "dimensions": [w["key"] for w in weakest_dimensions(points, DRILL_DIMENSIONS)],
        "terms": [t["term"] for t in most_missed_terms(points, DRILL_TERMS)],
        "questions": lowest_scored_questions(user, [p.interview_id for p in points]),
    }


def start_drill(user):
    """Create the user's drill interview, set up like their latest scored one;
    None before any scored interview, since there is nothing to drill yet."""
    points = points_for(reported_interviews(user))
    if not points:
        return None
    focus = _focus_from(user, points)
    latest = Interview.objects.get(pk=points[-1].interview_id, owner_id=user.pk)
    targets = len(focus["questions"]) + len(focus["dimensions"]) + len(focus["terms"])
    return Interview.objects.create(
        owner=user,
        job_role=latest.job_role,
        company=latest.company,
        job_description=latest.job_description,
        resume=latest.resume,
        style=latest.style,
        difficulty=latest.difficulty,
        interview_type=latest.interview_type,
        # Feedback after every answer: the point of a drill is to correct as you go.
        mode=Interview.Mode.PRACTICE,
        length_mode=Interview.LengthMode.QUESTIONS,
        question_count=min(max(targets, 3), 5),
        focus=focus,
    )


# ----- the chart -----

# Narrow enough that its labels stay legible when a phone shrinks it to fit.
CHART_WIDTH, CHART_HEIGHT = 400, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 38, 14, 14, 30
# Colour and dash both tell the lines apart, for colour-blind readers and print.
SERIES_STYLES = {
    "overall": ("#1d2330", ""),
    "relevance": ("#2f5bea", ""),
    "structure": ("#c2410c", "6 3"),
    "specificity": ("#15803d", "2 3"),
    "communication": ("#be185d", "8 3 2 3"),
    "role_fit": ("#6d28d9", "1 5"),
}


def overall_series(points):
    return [{"key": "overall", "label": "Overall score", "values": [p.overall for p in points]}]


def dimension_series(points):
    return [
        {"key": d, "label": DIMENSION_LABELS[d], "values": [p.dimensions.get(d) for p in points]}
        for d in DIMENSIONS
        if any(d in p.dimensions for p in points)
    ]


def line_chart_svg(chart_id, title, desc, points, series, low, high, ticks):
    """A line per series over the interviews (x: 1..n, oldest first), as inline SVG."""
    if not points:
        return ""
    inner_w = CHART_WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = CHART_HEIGHT - PAD_TOP - PAD_BOTTOM
    n = len(points)

    def x(i):
        return PAD_LEFT + (inner_w / 2 if n == 1 else i * inner_w / (n - 1))

    def y(value):
        return PAD_TOP + (high - value) / (high - low) * inner_h

    parts = [
        f'<svg viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="15" class="line-chart">',
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    for tick in ticks:
        ty = y(tick)
        parts.append(f'<line x1="{PAD_LEFT}" x2="{CHART_WIDTH - PAD_RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#e3e7ef"/>')
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" fill="#5f6b7a">{tick:g}</text>')
    # Label every interview when they fit, else about eight of them.
    step = max(1, round(n / 8))
    for i, point in enumerate(points):
        if i % step == 0 or i == n - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{CHART_HEIGHT - 10}" text-anchor="middle" fill="#5f6b7a">#{point.number}</text>'
            )
    for s in series:
        colour, dash = SERIES_STYLES[s["key"]]
        width = 3 if s["key"] == "overall" else 2
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        # A missing value breaks the line rather than drawing through it.
        run = []
        for i, value in enumerate(s["values"] + [None]):
            if value is not None:
                run.append(f"{x(i):.1f},{y(value):.1f}")
                continue
            if len(run) > 1:
                parts.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="{width}"{dash_attr}/>'
                )
            run = []
        for i, value in enumerate(s["values"]):
            if value is None:
                continue
            label = escape(f"{s['label']}, interview #{points[i].number} ({points[i].date:%d %b %Y}): {value:g}")
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="4" fill="{colour}"><title>{label}</title></circle>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def charts(progress):
    """The dashboard's two charts: the overall score (0-100) and the dimensions (1-5)."""
    points = progress.points
    n = len(points)
    span = f"{n} interview{'s' if n != 1 else ''}, oldest first"
    overall = [p.overall for p in points if p.overall is not None]
    overall_desc = f"Overall score out of 100 across {span}: " + (", ".join(str(v) for v in overall) or "none") + "."
    dims_desc = f"Each dimension's score out of 5 across {span}; the table below lists every value."
    return {
        "overall": line_chart_svg(
            "chart-overall", "Overall score over time", overall_desc, points, overall_series(points), 0, 100, (0, 25, 50, 75, 100)
        ),
        "dimensions": line_chart_svg(
            "chart-dimensions", "Dimension scores over time", dims_desc, points, dimension_series(points), 1, 5, (1, 2, 3, 4, 5)
        ),
        "legend": [
            {"label": s["label"], "colour": SERIES_STYLES[s["key"]][0], "dash": SERIES_STYLES[s["key"]][1]}
            for s in dimension_series(points)
        ],
    }
