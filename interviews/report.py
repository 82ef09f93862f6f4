"""The final report: deterministic aggregation of the coach's scores and metrics,
plus the engine's narrative (patterns, strengths, focus areas) and resources.

build() runs in a django-q2 worker; the page, the Markdown and the JSON
downloads all read the stored result.
"""

import logging
import re
from collections import Counter

from asgiref.sync import async_to_sync
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from interviews import coaching
from interviews.context import answered_questions, build_context
from interviews.engine import get_engine
from interviews.engine.base import DIMENSION_LABELS as LABELS
from interviews.engine.base import DIMENSIONS, EngineError
from interviews.engine.local import LocalEngine
from interviews.engine.resources import RESOURCES, curated_resources
from interviews.search import search_resources
from interviews.engine.rewrite import parts as rewrite_parts
from interviews.export import interview_as_dict
from interviews.models import Interview, Turn

log = logging.getLogger(__name__)


def score_to_percent(score):
    """A 1–5 rubric average as 0–100."""
    return round((score - 1) / 4 * 100)


def ensure_feedback(interview):
    """Coach every answer that has no finished feedback (e.g. the last one, or a crash)."""
    engine = get_engine()
    answers = interview.turns.filter(speaker=Turn.Speaker.CANDIDATE).order_by("index")
    for turn_id in answers.values_list("id", flat=True):
        prepared = coaching.prepare(turn_id)
        if prepared is None:
            continue
        _, answer, question_text, metrics, ctx = prepared
        result = async_to_sync(coaching.coach)(engine, answer.text, question_text, metrics, ctx)
        coaching.save(turn_id, metrics, result)


def aggregate(answered):
    """Scores and metrics across answers: pure arithmetic, no model."""
    per_dimension = {d: [] for d in DIMENSIONS}
    per_answer = []
    covered, missed = set(), Counter()
    words = fillers = 0
    wpm = []
    star_counts = []
    filler_words = Counter()
    for i, item in enumerate(answered, start=1):
        values = []
        for d in DIMENSIONS:
            score = (item.scores.get(d) or {}).get("score")
            if isinstance(score, (int, float)):
                per_dimension[d].append(score)
                values.append(score)
        per_answer.append(
            {"number": i, "question": item.question, "average": round(sum(values) / len(values), 2) if values else None}
        )
        m = item.metrics or {}
        covered.update(m.get("jd_terms_covered", []))
        missed.update(m.get("jd_terms_missed", []))
        words += m.get("words", 0)
        fillers += m.get("filler_count", 0)
        filler_words.update(m.get("filler_words", {}))
        if m.get("words_per_minute"):
            wpm.append(m["words_per_minute"])
        if "star_count" in m:
            star_counts.append(m["star_count"])
    dimensions = {d: round(sum(v) / len(v), 2) for d, v in per_dimension.items() if v}
    overall = score_to_percent(sum(dimensions.values()) / len(dimensions)) if dimensions else None
    return {
        "overall": overall,
        "dimensions": dimensions,
        "per_answer": per_answer,
        "jd_terms": {"covered": sorted(covered), "missed": sorted(t for t in missed if t not in covered)},
        "metrics": {
            "answers": len(answered),
            "words": words,
            "average_words": round(words / len(answered)) if answered else 0,
            "filler_count": fillers,
            "filler_rate": round(fillers / words * 100, 1) if words else 0,
            "top_fillers": filler_words.most_common(5),
            "words_per_minute": round(sum(wpm) / len(wpm)) if wpm else None,
            "average_star_parts": round(sum(star_counts) / len(star_counts), 1) if star_counts else None,
        },
    }


def build(interview_id):
    """Build and store the report; safe to call twice (the second call does nothing)."""
    claimed = Interview.objects.filter(
        pk=interview_id, summary_status__in=[Interview.SummaryStatus.PENDING, Interview.SummaryStatus.ERROR]
    ).update(summary_status=Interview.SummaryStatus.BUILDING, summary_error="")
    if not claimed:
        return False
    interview = Interview.objects.get(pk=interview_id)
    try:
        ensure_feedback(interview)
        answered = answered_questions(interview)
        summary = aggregate(answered)
        if answered:
            narrative = _narrative(interview, build_context(interview), answered)
            summary.update(
                patterns=narrative.patterns,
                strengths=narrative.strengths,
                focus_areas=narrative.focus_areas,
                source=narrative.source,
            )
            areas = [a.get("area", "") for a in narrative.focus_areas]
            summary["resources"] = search_resources(areas, interview.job_role) or curated_resources(areas, interview.job_role)
        else:
            summary.update(
                patterns="The interview ended before any question was answered, so there is nothing to score yet.",
                strengths=[],
                focus_areas=[],
                source="local",
                resources=[],
            )
        summary["built_at"] = timezone.now().isoformat()
    except Exception as exc:
        log.exception("report failed for %s", interview_id)
        Interview.objects.filter(pk=interview_id).update(
            summary_status=Interview.SummaryStatus.ERROR, summary_error=str(exc)[:500] or "Unknown error"
        )
        raise
    Interview.objects.filter(pk=interview_id).update(
        summary=summary, summary_status=Interview.SummaryStatus.READY, overall_score=summary["overall"]
    )
    return True


def _narrative(interview, ctx, answered):
    engine = get_engine()
    try:
        narrative = async_to_sync(engine.report)(ctx, answered)
    except EngineError as exc:
        log.warning("model report failed, using the local one: %s", exc)
        narrative = async_to_sync(LocalEngine().report)(ctx, answered)
        narrative.source = "local (model unavailable)"
    interview.record_usage(narrative.usage.as_dict())
    return narrative


# ----- presentation -----


def chart_svg(per_answer):
    """Bars of each answer's average score (1–5), as inline SVG: no JS, prints well."""
    bars = [a for a in per_answer if a.get("average")]
    if not bars:
        return ""
    width, height, pad, top = 600, 220, 36, 16
    slot = (width - pad - 10) / len(bars)
    bar_w = min(48, slot * 0.6)
    scale = (height - pad - top) / 5
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="Average score per answer, out of 5" '
        'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">'
    ]
    for level in range(1, 6):
        y = height - pad - level * scale
        parts.append(f'<line x1="{pad}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e7ef"/>')
        parts.append(f'<text x="{pad - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#5f6b7a">{level}</text>')
    for i, bar in enumerate(bars):
        x = pad + i * slot + (slot - bar_w) / 2
        h = bar["average"] * scale
        y = height - pad - h
        title = escape(f"Answer {bar['number']}: {bar['average']} / 5 — {bar['question'][:80]}")
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" rx="4" fill="#2f5bea"><title>{title}</title></rect>'
        )
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{bar["average"]:g}</text>')
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{height - pad + 16}" text-anchor="middle" fill="#5f6b7a">Q{bar["number"]}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def attempt_items(interview):
    """One item per question: its best attempt ("answer", "feedback"), and, when it
    was answered more than once, every attempt and the change per dimension
    from the first attempt to the latest. A question practised from another
    interview counts that interview's answer as its first attempt."""
    questions = {t.index: t for t in interview.turns.filter(speaker=Turn.Speaker.INTERVIEWER)}
    items = []
    for attempts in interview.attempt_groups():
        best, first = Turn.best_attempt(attempts), attempts[0]
        earlier = None
        if first.attempt_of_id:  # the first attempt is in another interview, of the same owner
            earlier = (
                Turn.objects.select_related("feedback", "interview")
                .filter(pk=first.attempt_of_id, interview__owner_id=interview.owner_id)
                .first()
            )
        tries = ([earlier] if earlier else []) + attempts
        items.append(
            {
                "question": questions.get(first.index - 1),
                "answer": best,
                "feedback": getattr(best, "feedback", None),
                "attempts": [
                    {"number": n, "answer": t, "feedback": getattr(t, "feedback", None), "best": t.pk == best.pk, "earlier": t is earlier}
                    for n, t in enumerate(tries, start=1)
                ]
                if len(tries) > 1
                else [],
                "changes": score_changes(tries[0], tries[-1]) if len(tries) > 1 else [],
            }
        )
    return items


def score_changes(before, after):
    """Per dimension scored in both answers: the change, e.g. {"label": "Relevance", "delta": 1, "shown": "+1"}."""
    changes = []
    for d in DIMENSIONS:
        old, new = _score(before, d), _score(after, d)
        if old is None or new is None:
            continue
        delta = round(new - old, 1)
        delta = int(delta) if delta == int(delta) else delta
        shown = f"+{delta}" if delta > 0 else f"\u2212{-delta}" if delta < 0 else "\u00b10"
        changes.append({"key": d, "label": LABELS[d], "delta": delta, "shown": shown})
    return changes


def _score(answer, dimension):
    feedback = getattr(answer, "feedback", None)
    value = (feedback.scores.get(dimension) or {}) if feedback and isinstance(feedback.scores, dict) else {}
    score = value.get("score") if isinstance(value, dict) else None
    return score if isinstance(score, (int, float)) and not isinstance(score, bool) else None


def page_context(interview):
    summary = interview.summary or {}
    items = attempt_items(interview)
    thinking = [item["answer"].thinking_seconds for item in items if item["answer"].thinking_seconds is not None]
    dimensions = [
        {"key": d, "label": LABELS[d], "score": summary.get("dimensions", {}).get(d)} for d in DIMENSIONS
    ]
    return {
        "interview": interview,
        "summary": summary,
        "items": items,
        "dimensions": dimensions,
        "chart": chart_svg(summary.get("per_answer", [])),
        # Pauses inside spoken answers; None when no answer measured any.
        "thinking_seconds": round(sum(thinking), 2) if thinking else None,
    }


def as_json(interview):
    return {"report": interview.summary, "interview": interview_as_dict(interview)}


# ----- the Markdown export: inert in any viewer -----
#
# Every piece of text in it comes from the candidate, the job ad or a model, so
# all of it is escaped: HTML as entities, Markdown's inline syntax with
# backslashes, block syntax at the start of each line, and the patterns GitHub
# Flavored Markdown turns into links by itself (http://, www., e-mail
# addresses). The only links are the product's own resources.

_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_INLINE = re.compile(r"([\\`*_\[\]|~$])")
_BLOCK_START = ("#", "+", "-", "=")  # headings, list items, setext underlines
_ORDERED_ITEM = re.compile(r"^(\d+)([.)])")
_SCHEME = re.compile(r":(?=//)")
_WWW = re.compile(r"(?i)\b(www)\.")
WORD_JOINER = "\u2060"  # invisible; after "@" it stops an address becoming a mailto: link


def md_text(text):
    """Text as inert Markdown, line by line (line breaks are kept; indentation,
    which would make a code block, is not)."""
    out = []
    for line in str(text or "").splitlines():
        line = _INLINE.sub(r"\\\1", line.strip().translate(_HTML))
        line = _SCHEME.sub(r"\\:", _WWW.sub(r"\1\\.", line)).replace("@", "@" + WORD_JOINER)
        if line.startswith(_BLOCK_START):
            line = "\\" + line
        out.append(_ORDERED_ITEM.sub(r"\1\\\2", line))
    return "\n".join(out)


def md_line(text):
    """Text as inert Markdown on one line (a heading, a list item)."""
    return md_text(" ".join(str(text or "").split()))


def _resource_urls():
    return {r["url"] for r in RESOURCES if r["url"].startswith(("https://", "http://"))}


_SEARCH_URL = re.compile(r"https://[^\s()<>\[\]`]{1,2000}")


def _resource_line(resource, allowed_urls):
    title, why = md_line(resource.get("title", "")), md_line(resource.get("why", ""))
    url = resource.get("url")
    # Links only to the curated pages and to what web search found (https,
    # stored by the report builder): never a URL the candidate or a model wrote.
    trusted = isinstance(url, str) and (
        url in allowed_urls or (resource.get("source") == "search" and _SEARCH_URL.fullmatch(url) is not None)
    )
    link = f"[{title}]({url})" if trusted else title
    return f"- {link}: {why}"


def _md_rewrite_line(label, pieces):
    body = ""
    for text, gap in pieces:
        # md_line trims its text; the spaces between the pieces stay.
        core = f"*{md_line(text)}*" if gap else md_line(text)
        body += (" " if text[:1].isspace() else "") + core + (" " if text[-1:].isspace() else "")
    return f"{label}: {body}" if label else body


def _md_attempts(item):
    """Every attempt at a question answered more than once, and the change."""
    if not item["attempts"]:
        return []
    lines = ["", f"**Attempts: {len(item['attempts'])}** (the best one is shown above)", ""]
    for attempt in item["attempts"]:
        tags = " (best)" if attempt["best"] else " (earlier interview)" if attempt["earlier"] else ""
        average = attempt["feedback"].average_score() if attempt["feedback"] else None
        scored = f", {average}/5" if average is not None else ""
        lines += [f"Attempt {attempt['number']}{tags}{scored}:", "", "> " + md_text(attempt["answer"].text).replace("\n", "\n> "), ""]
    if item["changes"]:
        lines.append("Change, first to latest attempt: " + ", ".join(f"{c['shown']} {c['label']}" for c in item["changes"]))
    return lines


def as_markdown(interview):
    s = interview.summary or {}
    company = f" at {md_line(interview.company)}" if interview.company else ""
    lines = [f"# Interview report: {md_line(interview.job_role)}{company}", ""]
    lines.append(f"Date: {timezone.localdate(interview.created_at).isoformat()}  ")
    lines.append(f"Interview type: {interview.get_interview_type_display()}  ")
    if s.get("overall") is not None:
        lines.append(f"Overall score: **{s['overall']} / 100**")
    lines += ["", "## Scores", ""]
    for d in DIMENSIONS:
        if d in s.get("dimensions", {}):
            lines.append(f"- {LABELS[d]}: {s['dimensions'][d]} / 5")
    if s.get("patterns"):
        lines += ["", "## Patterns", "", md_text(s["patterns"])]
    if s.get("strengths"):
        lines += ["", "## Strengths", ""] + [f"- {md_line(x)}" for x in s["strengths"]]
    if s.get("focus_areas"):
        lines += ["", "## Focus areas", ""]
        for area in s["focus_areas"]:
            lines.append(f"### {md_line(area.get('area', ''))}")
            if area.get("why"):
                lines.append(md_text(area["why"]))
            lines += [f"- {md_line(step)}" for step in area.get("next_steps", [])]
    terms = s.get("jd_terms") or {}
    if terms.get("covered") or terms.get("missed"):
        lines += ["", "## Job-description terms", ""]
        lines.append("Covered: " + (", ".join(md_line(t) for t in terms.get("covered", [])) or "none"))
        lines.append("")
        lines.append("Missed: " + (", ".join(md_line(t) for t in terms.get("missed", [])) or "none"))
    lines += ["", "## Answers", ""]
    for item in page_context(interview)["items"]:
        q, a, f = item["question"], item["answer"], item["feedback"]
        lines += [f"### {md_line(q.text) if q else 'Question'}", "", "> " + md_text(a.text).replace("\n", "\n> "), ""]
        if a.thinking_seconds:
            lines += [f"Thinking time: {a.thinking_seconds:.0f} s (not counted against pace)", ""]
        if f:
            for d in DIMENSIONS:
                sc = f.scores.get(d)
                if sc:
                    quote = f' — "{md_line(sc["evidence"])}"' if sc.get("evidence") else ""
                    lines.append(f"- {LABELS[d]}: {md_line(sc['score'])}/5{quote}")
            if f.text:
                lines += ["", md_text(f.text)]
            if f.rewrite:
                # Escaped like the rest: a placeholder shows as "[…]", in italics.
                lines += ["", "**A stronger answer, from your own facts**", ""]
                lines += [f"- {_md_rewrite_line(label, pieces)}" for label, pieces in rewrite_parts(f.rewrite)]
        lines += _md_attempts(item)
        lines.append("")
    if s.get("resources"):
        allowed_urls = _resource_urls()
        lines += ["## Resources", ""] + [_resource_line(r, allowed_urls) for r in s["resources"]]
    return "\n".join(lines) + "\n"
