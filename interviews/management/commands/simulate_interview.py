"""Play simulated candidates of known quality against the interviewer and coach.

    python manage.py simulate_interview --persona all --llm local
    python manage.py simulate_interview --persona strong --llm google_genai:gemini-2.5-flash --json

Everything happens in memory (no database): an InterviewContext is built and
grown turn by turn exactly as interviews.turns does from database rows. For
each interviewer turn the engine streams a Decision and text under
policy.allowed_actions; the persona answers with a canned answer
(interviews.engine.personas); every answer is measured (analysis.analyse) and
scored (engine.coach); at the end engine.report writes the narrative.

With --persona all the three personas play the same role with the same seed,
and the coach's mean score per dimension must rank them strong > average >
weak, strictly, on every dimension. A dimension where it does not is reported,
and the command exits with status 1.
"""

import asyncio
import json
import time
from statistics import mean

from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

from interviews.engine import get_engine, personas
from interviews.engine.analysis import analyse
from interviews.engine.base import (
    CLOSE,
    DIMENSIONS,
    AnsweredQuestion,
    Decision,
    EngineError,
    InterviewContext,
    TurnView,
    Usage,
    score_of,
)
from interviews.engine.policy import KIND_FOR_ACTION, MAX_FOLLOW_UPS, allowed_actions, coerce

MAIN_KINDS = ("introduction", "question")
# Metrics worth keeping in the JSON summary (the rest is bulky and derivable).
METRIC_KEYS = ("words", "filler_rate", "star_count", "numbers", "has_outcome", "ownership", "jd_terms_covered", "relevance", "vague_phrases")
SPEAKING_WORDS_PER_SECOND = 2.5  # for elapsed time; matters only to time-based interviews


class SimulationError(Exception):
    pass


async def _interviewer_turn(engine, ctx):
    allowed = allowed_actions(ctx)
    decision, parts, usage = None, [], Usage()
    async for item in engine.stream_turn(ctx, allowed):
        if isinstance(item, Decision):
            item.action = coerce(item.action, allowed)
            decision = item
        elif isinstance(item, Usage):
            usage = item
        elif item:
            parts.append(item)
    text = "".join(parts).strip()
    if decision is None or not text:
        raise SimulationError("the interviewer gave an empty turn")
    return decision, text, usage


async def simulate(engine, persona, *, role, job_description, question_count, seed, style="formal", difficulty="medium"):
    """One whole interview played by `persona`; returns a JSON-ready dict."""
    persona = personas.PERSONAS[persona] if isinstance(persona, str) else persona
    ctx = InterviewContext(
        job_role=role,
        job_description=job_description,
        style=style,
        difficulty=difficulty,
        length_mode="questions",
        question_count=question_count,
        seed=seed,
    )
    turns, answered = [], []
    usage = Usage()
    main_index, follow_up_index, topic = -1, 0, ""
    # Every main question can have MAX_FOLLOW_UPS follow-ups; then the close.
    max_interviewer_turns = question_count * (MAX_FOLLOW_UPS + 1) + 2
    started = time.monotonic()
    while True:
        if sum(1 for t in ctx.transcript if t.speaker == "interviewer") >= max_interviewer_turns:
            raise SimulationError(f"the interviewer did not close after {max_interviewer_turns} turns")
        decision, question, turn_usage = await _interviewer_turn(engine, ctx)
        usage.add(turn_usage)
        kind = KIND_FOR_ACTION[decision.action]
        ctx.transcript.append(TurnView("interviewer", kind, question))
        ctx.topics_covered = list(dict.fromkeys(ctx.topics_covered + list(decision.topics)))[:50]
        if kind in MAIN_KINDS:
            ctx.main_questions_asked += 1
            ctx.follow_ups_on_current = 0
            main_index += 1
            follow_up_index = None
            topic = decision.topics[0] if decision.topics else ""
        elif kind == "follow_up":
            ctx.follow_ups_on_current += 1
            follow_up_index = 0 if follow_up_index is None else follow_up_index + 1
        turn = {
            "kind": kind,
            "decision": {"action": decision.action, "justification": decision.justification, "topics": list(decision.topics)},
            "question": question,
        }
        turns.append(turn)
        if decision.action == CLOSE:
            break

        answer = personas.answer_for(
            persona,
            question,
            main_index=max(main_index, 0),
            follow_up_index=follow_up_index,
            seed=seed,
            job_description=job_description,
            job_role=role,
            topic=topic,
        )
        ctx.transcript.append(TurnView("candidate", "answer", answer))
        ctx.elapsed_seconds += len(answer.split()) / SPEAKING_WORDS_PER_SECOND
        metrics = analyse(question, answer, job_description, role)
        result = await engine.coach(ctx, question, answer, metrics)
        usage.add(result.usage)
        scores = result.scores
        turn.update(
            answer=answer,
            scores=scores,
            strengths=list(result.strengths),
            improvements=list(result.improvements),
            coach_source=result.source,
            metrics={k: metrics[k] for k in METRIC_KEYS},
            evidence_not_in_answer=[
                dim for dim in DIMENSIONS
                if isinstance(scores.get(dim), dict) and (scores[dim].get("evidence") or "") not in answer
            ],
        )
        answered.append(AnsweredQuestion(question=question, answer=answer, scores=scores, metrics=metrics))

    report = await engine.report(ctx, answered)
    usage.add(report.usage)
    means = {}
    for dim in DIMENSIONS:
        values = [v for v in (score_of(a.scores, dim) for a in answered) if v is not None]
        means[dim] = round(mean(values), 3) if values else None
    scored = [v for v in means.values() if v is not None]
    return {
        "persona": persona.name,
        "summary": persona.summary,
        "answers": len(answered),
        "main_questions": ctx.main_questions_asked,
        "follow_ups": sum(1 for t in turns if t["kind"] == "follow_up"),
        "mean_scores": means,
        "overall": round(mean(scored), 3) if scored else None,
        "evidence_not_in_answer": sum(len(t.get("evidence_not_in_answer", [])) for t in turns),
        "turns": turns,
        "report": {"patterns": report.patterns, "strengths": list(report.strengths), "focus_areas": list(report.focus_areas), "source": report.source},
        "usage": usage.as_dict(),
        "seconds": round(time.monotonic() - started, 2),
    }


def check_ranking(results):
    """Whether the mean scores rank the personas strong > average > weak, strictly, per dimension."""
    order = [name for name in personas.RANKED if name in results]
    dimensions, failed = {}, []
    for dim in DIMENSIONS:
        values = {name: results[name]["mean_scores"].get(dim) for name in order}
        if any(v is None for v in values.values()):
            ok, why = False, "no scores to compare"
        else:
            bad = [(a, b) for a, b in zip(order, order[1:]) if not values[a] > values[b]]
            ok = not bad
            why = "" if ok else "; ".join(f"{a} ({values[a]:.2f}) is not above {b} ({values[b]:.2f})" for a, b in bad)
        dimensions[dim] = {**values, "ok": ok, "why": why}
        if not ok:
            failed.append(dim)
    return {"order": order, "ok": not failed, "failed": failed, "dimensions": dimensions}


class Command(BaseCommand):
    help = "Play simulated candidates (strong, average, weak) against the interviewer and coach, in memory."

    def add_arguments(self, parser):
        parser.add_argument("--persona", choices=[*personas.RANKED, "all"], default="all")
        parser.add_argument("--llm", default="local", help='"local" or a LangChain "provider:model", e.g. google_genai:gemini-2.5-flash')
        parser.add_argument("--role", default="Backend Engineer")
        parser.add_argument("--questions", type=int, default=4, help="main questions, the introduction's included")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--style", choices=["formal", "casual", "challenging", "technical"], default="formal")
        parser.add_argument("--difficulty", choices=["easy", "medium", "hard"], default="medium")
        parser.add_argument("--job-description", default=None, help="default: a built-in description for the role")
        parser.add_argument("--json", action="store_true", help="print a machine-readable summary")

    def handle(self, *args, **options):
        if options["questions"] < 1:
            raise CommandError("--questions must be at least 1")
        names = list(personas.RANKED) if options["persona"] == "all" else [options["persona"]]
        role = options["role"].strip() or "Backend Engineer"
        jd = options["job_description"] if options["job_description"] is not None else personas.job_description_for(role)
        params = dict(role=role, job_description=jd, question_count=options["questions"], seed=options["seed"],
                      style=options["style"], difficulty=options["difficulty"])

        async def run_all():
            engine = get_engine(options["llm"])
            return {name: await simulate(engine, name, **params) for name in names}

        # No typing effect: the local engine would otherwise pause between words.
        with override_settings(INTERVIEW_LOCAL_STREAM_DELAY=0):
            try:
                results = asyncio.run(run_all())
            except (EngineError, SimulationError) as exc:
                raise CommandError(f"simulation failed: {exc}", returncode=2) from exc

        ranking = check_ranking(results) if len(names) > 1 else None
        summary = {
            "llm": options["llm"],
            "role": role,
            "job_description": jd,
            "seed": options["seed"],
            "questions": options["questions"],
            "style": options["style"],
            "difficulty": options["difficulty"],
            "personas": results,
            "ranking": ranking,
            "ok": ranking["ok"] if ranking else True,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2, ensure_ascii=False))
        else:
            self._print(summary, transcripts=len(names) == 1 or options["verbosity"] >= 2)
        if ranking and not ranking["ok"]:
            raise CommandError(
                "the coach did not rank strong > average > weak on: " + ", ".join(ranking["failed"]), returncode=1
            )

    # ----- the human-readable report -----

    def _print(self, summary, transcripts):
        w = self.stdout.write
        w(f'Simulated interview: role "{summary["role"]}", llm {summary["llm"]}, seed {summary["seed"]}, '
          f'{summary["questions"]} questions, {summary["style"]} / {summary["difficulty"]}')
        for result in summary["personas"].values():
            if transcripts:
                self._print_transcript(result)
        w("")
        heads = ["persona", "answers", "follow-ups", *DIMENSIONS, "overall", "calls"]
        widths = [max(len(h), 8) for h in heads]
        w("  ".join(h.ljust(n) for h, n in zip(heads, widths)))
        for name, r in summary["personas"].items():
            cells = [name, str(r["answers"]), str(r["follow_ups"])]
            cells += [_fmt(r["mean_scores"][d]) for d in DIMENSIONS] + [_fmt(r["overall"]), str(r["usage"]["calls"])]
            w("  ".join(c.ljust(n) for c, n in zip(cells, widths)))
        quotes = sum(r["evidence_not_in_answer"] for r in summary["personas"].values())
        if quotes:
            w(self.style.WARNING(f"{quotes} evidence quote(s) were not found word for word in the answer."))
        ranking = summary["ranking"]
        if not ranking:
            return
        w("")
        w("Ranking check (" + " > ".join(ranking["order"]) + ", mean score per dimension):")
        for dim, d in ranking["dimensions"].items():
            values = _fmt(d[ranking["order"][0]])
            for a, b in zip(ranking["order"], ranking["order"][1:]):
                values += f" {_cmp(d[a], d[b])} {_fmt(d[b])}"
            mark = self.style.SUCCESS("ok") if d["ok"] else self.style.ERROR("FAIL: " + d["why"])
            w(f"  {dim.ljust(14)} {values.ljust(24)} {mark}")
        if ranking["ok"]:
            w(self.style.SUCCESS(f"PASS: the coach ranks {' > '.join(ranking['order'])} on all {len(DIMENSIONS)} dimensions."))
        else:
            w(self.style.ERROR(f"FAIL: the ranking does not hold on {', '.join(ranking['failed'])}."))

    def _print_transcript(self, result):
        w = self.stdout.write
        w("")
        w(self.style.MIGRATE_HEADING(f"== {result['persona']}: {result['summary']}"))
        for turn in result["turns"]:
            w(f"[{turn['kind']}] {turn['question']}")
            w(f"    ({turn['decision']['action']}: {turn['decision']['justification']})")
            if "answer" in turn:
                w(f"  candidate: {turn['answer']}")
                w("  scores: " + ", ".join(f"{d} {_fmt(score_of(turn['scores'], d), 0)}" for d in DIMENSIONS))
        w("Report: " + result["report"]["patterns"])


def _cmp(a, b):
    if a is None or b is None:
        return "?"
    return ">" if a > b else "=" if a == b else "<"


def _fmt(value, places=2):
    return "-" if value is None else f"{value:.{places}f}"
