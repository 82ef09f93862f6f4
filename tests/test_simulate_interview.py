"""manage.py simulate_interview: simulated candidates of known quality against the engine and coach."""

import io
import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from interviews.engine import personas
from interviews.engine.base import DIMENSIONS, CoachResult
from interviews.engine.local import LocalEngine
from tests.fakes.gemini import Reply, fake_gemini  # noqa: F401  (the fixture)


def simulate(*args):
    """Run the command with --json; (parsed summary, raw stdout)."""
    out = io.StringIO()
    call_command("simulate_interview", *args, "--json", stdout=out)
    return json.loads(out.getvalue()), out.getvalue()


def assert_strict_ranking(summary):
    results = summary["personas"]
    assert list(results) == ["strong", "average", "weak"]
    for dim in DIMENSIONS:
        strong, average, weak = (results[p]["mean_scores"][dim] for p in ("strong", "average", "weak"))
        assert strong > average > weak, f"{dim}: strong {strong}, average {average}, weak {weak}"
    assert summary["ranking"]["ok"] and summary["ranking"]["failed"] == []


@pytest.mark.parametrize(
    "role, seed, questions",
    [("Backend Engineer", 1, 4), ("Data Analyst", 7, 5), ("Registered Nurse", 42, 3)],
)
def test_it_ranks_strong_above_average_above_weak_on_every_dimension_with_the_local_engine(role, seed, questions):
    summary, _ = simulate("--persona", "all", "--llm", "local", "--role", role, "--seed", str(seed), "--questions", str(questions))

    assert_strict_ranking(summary)
    for name, result in summary["personas"].items():
        assert result["main_questions"] == questions
        assert result["answers"] >= questions
        assert result["turns"][0]["kind"] == "introduction" and result["turns"][-1]["kind"] == "closing"
        # Every answer was coached on all five dimensions, with quotes taken from the answer.
        for turn in result["turns"][:-1]:
            assert set(turn["scores"]) == set(DIMENSIONS)
            assert turn["evidence_not_in_answer"] == []
        assert result["report"]["patterns"] and result["report"]["focus_areas"]
    # The weak persona's short answers draw follow-ups; the strong one's do not need them.
    assert summary["personas"]["weak"]["follow_ups"] > summary["personas"]["strong"]["follow_ups"]


def test_it_prints_a_ranking_table_and_passes():
    out = io.StringIO()
    call_command("simulate_interview", "--persona", "all", "--role", "Product Manager", "--seed", "3", stdout=out)
    text = out.getvalue()

    assert re.search(r"^persona\s+answers", text, re.M)
    for name in ("strong", "average", "weak"):
        assert re.search(rf"^{name}\s+\d+", text, re.M)
    for dim in DIMENSIONS:
        assert re.search(rf"^\s+{dim}\s+[\d.]+ > [\d.]+ > [\d.]+\s+ok$", text, re.M)
    assert "PASS" in text


def test_it_plays_one_persona_with_its_canned_answers():
    summary, _ = simulate("--persona", "strong", "--role", "Backend Engineer", "--seed", "2")

    assert list(summary["personas"]) == ["strong"] and summary["ranking"] is None and summary["ok"]
    answers = [t["answer"] for t in summary["personas"]["strong"]["turns"] if "answer" in t]
    # First-person STAR stories with figures and the job's terms.
    assert all(re.search(r"\d+%", a) and " I " in a for a in answers)
    assert all(any(term in a for term in ("Python", "Django", "PostgreSQL", "REST APIs", "Docker")) for a in answers)


def test_it_has_at_least_six_canned_answers_per_persona():
    for persona in personas.PERSONAS.values():
        assert len(persona.answers) >= 6
        assert len(persona.follow_ups) >= 2


def test_it_fails_with_exit_code_1_when_the_coach_cannot_tell_the_personas_apart(monkeypatch):
    async def constant_coach(self, ctx, question, answer, metrics):
        scores = {d: {"score": 3, "evidence": answer[:40], "note": "constant"} for d in DIMENSIONS}
        return CoachResult(scores=scores, strengths=["ok"], improvements=["ok"], text="Fine.")

    monkeypatch.setattr(LocalEngine, "coach", constant_coach)
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("simulate_interview", "--persona", "all", "--llm", "local", stdout=out)

    assert failed.value.returncode == 1
    for dim in DIMENSIONS:
        assert dim in str(failed.value)
    assert "FAIL" in out.getvalue()


def test_it_reports_the_failed_dimensions_in_the_json_summary(monkeypatch):
    real_coach = LocalEngine.coach

    async def coach_blind_to_filler(self, ctx, question, answer, metrics):
        result = await real_coach(self, ctx, question, answer, metrics)
        result.scores["communication"]["score"] = 4
        return result

    monkeypatch.setattr(LocalEngine, "coach", coach_blind_to_filler)
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("simulate_interview", "--persona", "all", "--json", stdout=out)

    summary = json.loads(out.getvalue())
    assert failed.value.returncode == 1
    assert summary["ok"] is False and summary["ranking"]["failed"] == ["communication"]
    assert summary["ranking"]["dimensions"]["relevance"]["ok"]


# ----- the model-backed path, against the fake Gemini server -----

ANSWER_RE = re.compile(r"Candidate's answer:\n(.*?)\n\nMeasured metrics", re.S)


def scripted_gemini(req):
    """Interviewer turns for streaming calls; coach JSON (scored by a marker) or a report for unary ones.

    The marker: answers with figures score 5, other answers of 40+ words 3, short ones 1.
    """
    if req.stream:
        return Reply(
            "ACTION: new_question\nTOPICS: problem solving\nWHY: next topic\n---\n"
            "Thanks. Tell me about the hardest problem you have solved at work. What did you do?"
        )
    if "Score one answer" in req.system + req.prompt:
        match = ANSWER_RE.search(req.prompt)
        answer = match.group(1) if match else ""
        score = 5 if re.search(r"\d", answer) else 3 if len(answer.split()) >= 40 else 1
        quote = " ".join(answer.split()[:6])
        scores = {d: {"score": score, "evidence": quote, "note": f"marker score {score}"} for d in DIMENSIONS}
        return Reply(json={"scores": scores, "strengths": ["Clear."], "improvements": ["Add figures."], "text": "Scored."})
    return Reply(
        json={
            "patterns": "Scripted patterns across the answers.",
            "strengths": ["Scripted strength."],
            "focus_areas": [{"area": "Specificity", "why": "Scripted.", "next_steps": ["Add a figure."]}],
        }
    )


def test_it_runs_end_to_end_through_a_langchain_model(fake_gemini):  # noqa: F811
    fake_gemini.respond_with(scripted_gemini)

    summary, _ = simulate("--persona", "all", "--llm", "google_genai:gemini-2.5-flash", "--role", "Backend Engineer", "--questions", "3")

    assert_strict_ranking(summary)
    strong = summary["personas"]["strong"]
    assert strong["mean_scores"] == {d: 5 for d in DIMENSIONS}
    assert summary["personas"]["weak"]["mean_scores"] == {d: 1 for d in DIMENSIONS}
    assert strong["turns"][0]["coach_source"] == "google_genai:gemini-2.5-flash"
    assert strong["report"]["patterns"] == "Scripted patterns across the answers."
    assert strong["usage"]["calls"] > 0 and strong["usage"]["tokens_in"] > 0
    # The model chose new_question every time; the policy turned the last one into the close.
    assert [t["kind"] for t in strong["turns"]] == ["introduction", "question", "question", "closing"]
    streamed = [r for r in fake_gemini.requests if r.stream]
    coached = [r for r in fake_gemini.requests if not r.stream and "Score one answer" in r.system + r.prompt]
    assert len(streamed) == sum(len(r["turns"]) for r in summary["personas"].values())
    assert len(coached) == sum(r["answers"] for r in summary["personas"].values())
    assert all(r.headers["x-goog-api-key"] == fake_gemini.api_key for r in fake_gemini.requests)


def test_it_exits_non_zero_when_the_model_keeps_failing(fake_gemini, settings):  # noqa: F811
    settings.INTERVIEW_LLM_RETRIES = 0
    fake_gemini.default(status=400)

    with pytest.raises(CommandError) as failed:
        call_command("simulate_interview", "--persona", "weak", "--llm", "google_genai:gemini-2.5-flash", stdout=io.StringIO())

    assert failed.value.returncode == 2
    assert "simulation failed" in str(failed.value)
