"""Progress over time on the dashboard, and "Drill my weak spots" (interviews/progress.py)."""

import random
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from interviews import progress
from interviews.context import build_context
from interviews.engine import prompts
from interviews.engine.base import INTRODUCE, NEW_QUESTION, InterviewContext, TurnView
from interviews.engine.local.interviewer import LocalInterviewer, focus_question, focus_targets
from interviews.engine.llm import LLMEngine
from interviews.engine.questions import is_story_question
from interviews.models import Feedback, Interview, Turn
from tests.factories import make_interview
from tests.fakes.gemini import fake_gemini  # noqa: F401  (the fixture)
from tests.test_engine_llm import MODEL, collect

DIMS = ("relevance", "structure", "specificity", "communication", "role_fit")


def reported(owner, overall, dims, missed=(), days_ago=0, role="Backend Engineer", **fields):
    """A completed interview whose report is built, with these scores."""
    interview = make_interview(owner, job_role=role, **fields)
    Interview.objects.filter(pk=interview.pk).update(
        status=Interview.Status.COMPLETED,
        completed_at=timezone.now(),
        created_at=timezone.now() - timedelta(days=days_ago),
        summary_status=Interview.SummaryStatus.READY,
        overall_score=overall,
        summary={"overall": overall, "dimensions": dict(zip(DIMS, dims)), "jd_terms": {"covered": [], "missed": list(missed)}},
    )
    interview.refresh_from_db()
    return interview


def answer_with_score(interview, question, answer, score, kind=Turn.Kind.QUESTION):
    """The interviewer asks `question`, the candidate answers, the coach scores every dimension `score`."""
    index = interview.turns.count()
    Turn.objects.create(interview=interview, index=index, speaker=Turn.Speaker.INTERVIEWER, kind=kind, text=question)
    turn = Turn.objects.create(
        interview=interview, index=index + 1, speaker=Turn.Speaker.CANDIDATE, kind=Turn.Kind.ANSWER, text=answer
    )
    scores = {d: {"score": score, "evidence": answer[:20], "note": "n"} for d in DIMS}
    Feedback.objects.create(turn=turn, status=Feedback.Status.READY, scores=scores)
    return turn


# ----- the chart's data, the weakest dimension, the terms missed -----


def test_it_plots_the_owners_reported_interviews_oldest_first_and_nobody_elses(owner, other):
    reported(owner, 40, (2, 2, 3, 3, 2), days_ago=10)
    reported(owner, 65, (4, 3, 3.5, 4, 3), days_ago=2)
    reported(other, 99, (5, 5, 5, 5, 5), days_ago=5)
    make_interview(owner)  # active: no report yet
    Interview.objects.filter(pk=make_interview(owner).pk).update(
        status=Interview.Status.COMPLETED, summary_status=Interview.SummaryStatus.BUILDING
    )

    points = progress.for_user(owner).points

    assert [p.overall for p in points] == [40, 65]
    assert [p.number for p in points] == [1, 2]
    assert points[1].dimensions == {"relevance": 4, "structure": 3, "specificity": 3.5, "communication": 4, "role_fit": 3}


def test_it_leaves_out_reports_with_nothing_scored_and_reads_summaries_defensively(owner):
    reported(owner, None, ())  # ended before any answer
    bad = reported(owner, 50, (3, 3, 3, 3, 3))
    bad.summary = {"dimensions": {"relevance": "5", "structure": 99, "specificity": True, "communication": 2}, "jd_terms": "x"}
    bad.save()

    (point,) = progress.for_user(owner).points

    assert point.overall == 50 and point.dimensions == {"communication": 2}
    assert point.missed_terms == []


def test_it_names_the_weakest_dimension_of_recent_interviews(owner):
    # Long ago structure was the weakest; in the last five interviews it is role fit.
    reported(owner, 10, (3, 1, 3, 3, 3), days_ago=30)
    for days in range(5):
        reported(owner, 60, (4, 4, 4, 4, 2.5 + days / 10), days_ago=days)

    weakest = progress.for_user(owner).weakest

    assert weakest["key"] == "role_fit" and weakest["label"] == "Role fit"
    assert weakest["average"] == 2.7 and weakest["count"] == 5


def test_it_ranks_terms_by_the_interviews_that_missed_them(owner):
    reported(owner, 50, (3,) * 5, missed=["kubernetes", "sql", "terraform"], days_ago=3)
    reported(owner, 50, (3,) * 5, missed=["kubernetes", "sql", "Kubernetes "], days_ago=2)
    reported(owner, 50, (3,) * 5, missed=["kubernetes", 7, {"x": 1}], days_ago=1)

    terms = progress.for_user(owner).missed_terms

    assert [(t["label"], t["count"]) for t in terms] == [("Kubernetes", 3), ("SQL", 2), ("Terraform", 1)]


def test_the_chart_has_a_point_per_interview_and_a_line_only_once_there_are_two(owner):
    reported(owner, 40, (2, 2, 3, 3, 2), days_ago=1)
    one = progress.charts(progress.for_user(owner))
    assert one["overall"].count("<circle") == 1 and "<polyline" not in one["overall"]
    assert one["dimensions"].count("<circle") == 5

    reported(owner, 70, (4, 3, 4, 4, 3))
    two = progress.charts(progress.for_user(owner))
    assert two["overall"].count("<circle") == 2 and two["overall"].count("<polyline") == 1
    assert two["dimensions"].count("<polyline") == 5
    assert '<title id="chart-overall-title">Overall score over time</title>' in two["overall"]
    assert "40, 70" in two["overall"]  # the description reads the values out


def test_a_missing_value_breaks_the_line_instead_of_drawing_through_it(owner):
    reported(owner, 40, (2, 2, 3, 3, 2), days_ago=3)
    middle = reported(owner, 50, (3, 3, 3, 3, 3), days_ago=2)
    middle.summary["dimensions"].pop("structure")
    middle.save()
    reported(owner, 60, (4, 4, 4, 4, 4), days_ago=1)

    svg = progress.charts(progress.for_user(owner))["dimensions"]

    assert svg.count("<polyline") == 4  # structure has no line: no two neighbours
    assert svg.count("<circle") == 14


# ----- the dashboard -----


def test_the_dashboard_shows_progress_weakest_dimension_and_missed_terms(owner_client, owner, other):
    reported(owner, 40, (2, 1.5, 3, 3, 2), missed=["kubernetes"], days_ago=1)
    reported(owner, 55, (3, 2, 3, 3, 3), missed=["kubernetes"])
    reported(other, 99, (5,) * 5, missed=["cobol"], role="Other person's secret role")

    html = owner_client.get(reverse("dashboard")).content.decode()

    assert "Your progress" in html and "Drill my weak spots" in html
    weakest = re.search(r'<p id="weakest-dimension".*?</p>', html, re.S).group(0)
    assert "Structure (STAR)" in weakest and "1.8/5" in weakest and "last 2 interviews" in weakest
    assert "Kubernetes" in html and "missed in 2 of 2" in html
    assert html.count('role="img"') == 2 and "40, 55." in html
    assert "cobol" not in html.lower() and "secret role" not in html and "99/100" not in html and ">99<" not in html
    assert "finish another to see a trend" not in html


def test_the_dashboard_says_what_one_interview_and_no_report_mean(owner_client, owner):
    make_interview(owner)
    html = owner_client.get(reverse("dashboard")).content.decode()
    assert "appear here once an interview's report is ready" in html and "Drill my weak spots" not in html

    reported(owner, 40, (2, 2, 3, 3, 2))
    html = owner_client.get(reverse("dashboard")).content.decode()
    assert "One interview so far: finish another to see a trend." in html
    assert "Drill my weak spots" in html


def test_the_dashboard_escapes_what_the_candidate_typed(owner_client, owner):
    reported(owner, 40, (2,) * 5, role="<b>bold</b>", missed=["<script>x</script>"])
    html = owner_client.get(reverse("dashboard")).content.decode()
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<script>x" not in html


def test_it_reads_the_dashboard_in_a_bounded_number_of_queries(owner_client, owner, django_assert_max_num_queries):
    for days in range(8):
        reported(owner, 50, (3,) * 5, missed=["sql"], days_ago=days)
    with django_assert_max_num_queries(8):
        owner_client.get(reverse("dashboard"))


# ----- Drill my weak spots -----


def test_the_drill_focus_names_weak_dimensions_missed_terms_and_the_lowest_scored_questions(owner, other):
    first = reported(owner, 40, (2, 1, 3, 4, 2.5), missed=["kubernetes", "sql"], days_ago=2)
    second = reported(owner, 55, (3, 2, 3, 4, 3), missed=["kubernetes"], days_ago=1)
    answer_with_score(first, "Hello, welcome! Tell me about yourself.", "I am an engineer.", 3, kind=Turn.Kind.INTRODUCTION)
    worst = answer_with_score(first, "Thanks. Moving on. Describe a time you missed a deadline?", "It happened once.", 1)
    # The same question asked again later and answered well: its best attempt counts.
    answer_with_score(first, "Tell me about a conflict with a colleague.", "We argued.", 1.5)
    answer_with_score(second, "Tell me about a conflict with a colleague.", "I settled it with data.", 4)
    # A follow-up's answer is not a question to ask again out of context.
    answer_with_score(second, "You said 'data': which data?", "Logs.", 1, kind=Turn.Kind.FOLLOW_UP)
    theirs = reported(other, 10, (1,) * 5)
    answer_with_score(theirs, "Someone else's question?", "x", 1)

    focus = progress.drill_focus(owner)

    assert focus["dimensions"] == ["structure", "relevance"]
    assert focus["terms"] == ["kubernetes", "sql"]
    assert focus["questions"] == [
        {"text": "Describe a time you missed a deadline?", "from_turn": worst.id},
        {"text": "Tell me about yourself.", "from_turn": first.turns.get(index=1).id},
    ]


def test_a_built_in_introduction_gives_back_just_its_opening_question(owner):
    interview = reported(owner, 40, (2,) * 5)
    intro = (
        "Good day, and thank you for joining me. I'll be interviewing you for the SRE position at Acme. "
        "We'll go through your experience, how you approach your work, and a few scenarios. "
        "Take your time with each answer, and use specific examples where you can. "
        "In two minutes, why are you the right person for this SRE role? Make the case with evidence."
    )
    answer_with_score(interview, intro, "Because.", 1, kind=Turn.Kind.INTRODUCTION)

    (question,) = progress.drill_focus(owner)["questions"]

    assert question["text"] == "In two minutes, why are you the right person for this SRE role? Make the case with evidence."


def test_there_is_no_drill_before_a_scored_interview(owner):
    reported(owner, None, ())
    assert progress.drill_focus(owner) is None and progress.start_drill(owner) is None


def test_the_drill_button_starts_an_owned_practice_drill(owner_client, owner, other):
    base = reported(owner, 40, (2.5, 1, 3, 4, 2), missed=["kubernetes"], role="SRE", style="technical", difficulty="hard",
                    mode=Interview.Mode.REALISTIC, resume="5 years on call")
    answer_with_score(base, "Tell me about an outage you handled.", "It was bad.", 1)
    reported(other, 99, (5,) * 5, role="Other")

    response = owner_client.post(reverse("start_drill"))

    drill = Interview.objects.get(owner=owner, status=Interview.Status.ACTIVE)
    assert response.status_code == 302 and response["Location"] == drill.get_absolute_url()
    assert drill.is_drill and drill.mode == Interview.Mode.PRACTICE and drill.length_mode == Interview.LengthMode.QUESTIONS
    assert (drill.job_role, drill.style, drill.difficulty, drill.resume) == ("SRE", "technical", "hard", "5 years on call")
    assert drill.focus["dimensions"] == ["structure", "role_fit"] and drill.focus["terms"] == ["kubernetes"]
    assert [q["text"] for q in drill.focus["questions"]] == ["Tell me about an outage you handled."]
    assert 3 <= drill.question_count <= 5
    assert not Interview.objects.filter(owner=other, status=Interview.Status.ACTIVE).exists()
    room = owner_client.get(drill.get_absolute_url()).content.decode()
    assert 'class="badge drill"' in room
    assert 'class="badge drill"' not in owner_client.get(base.get_report_url()).content.decode()
    drill.end_early()
    assert 'class="badge drill"' in owner_client.get(drill.get_report_url()).content.decode()
    listing = owner_client.get(reverse("dashboard")).content.decode()
    assert listing.count('class="badge drill"') == 1


def test_the_drill_button_without_a_report_explains_and_creates_nothing(owner_client, owner):
    response = owner_client.post(reverse("start_drill"), follow=True)
    assert "Finish an interview first" in response.content.decode()
    assert not Interview.objects.filter(owner=owner).exists()


def test_the_drill_endpoint_takes_only_a_signed_in_post_with_csrf(client, owner):
    reported(owner, 40, (2,) * 5)
    url = reverse("start_drill")
    assert client.post(url).status_code == 302 and Interview.objects.count() == 1  # to the login page
    client.force_login(owner)
    assert client.get(url).status_code == 405
    client.handler.enforce_csrf_checks = True
    assert client.post(url).status_code == 403
    assert Interview.objects.count() == 1


# ----- the engines honour the focus -----


FOCUS = {
    "dimensions": ["structure", "role_fit"],
    "terms": ["kubernetes", "terraform"],
    "questions": [{"text": "Describe a time you missed a deadline?", "from_turn": 1}],
}


def drill_ctx(transcript=(), topics=(), **kw):
    turns = list(transcript)
    return InterviewContext(
        job_role="Platform Engineer",
        job_description="Run Python services on AWS.",
        resume="",
        question_count=6,
        transcript=turns,
        topics_covered=list(topics),
        main_questions_asked=sum(1 for t in turns if t.kind in ("introduction", "question")),
        focus=kw.pop("focus", FOCUS),
        seed=7,
        **kw,
    )


def run_local(ctx, steps):
    """Let the local interviewer ask `steps` main questions, answering each briefly but completely."""
    engine = LocalInterviewer()
    transcript, topics, asked = list(ctx.transcript), list(ctx.topics_covered), []
    answer = (
        "At Acme I led the migration. The deploys were slow, so I had to fix them. I wrote the pipeline and "
        "trained two colleagues. As a result deploys went from 60 to 8 minutes and costs fell by 30%."
    )
    for step in range(steps):
        c = drill_ctx(transcript, topics, focus=ctx.focus)
        allowed = {INTRODUCE} if step == 0 else {NEW_QUESTION}
        decision, text = engine.plan(c, allowed)
        asked.append((decision, text))
        kind = "introduction" if step == 0 else "question"
        transcript += [TurnView("interviewer", kind, text), TurnView("candidate", "answer", answer)]
        topics += decision.topics
    return asked


def test_the_local_interviewer_opens_a_drill_with_its_note_and_the_question_scored_lowest():
    decision, text = LocalInterviewer().plan(drill_ctx(), {INTRODUCE})
    assert decision.action == INTRODUCE
    assert (
        "This is a drill on your weak spots: structure (situation, task, action, result); linking your experience "
        "to the role and the job's terms Kubernetes and Terraform. Describe a time you missed a deadline?"
    ) in text
    assert text.endswith("Describe a time you missed a deadline?")


def test_the_local_interviewer_works_through_dimensions_and_terms_then_asks_as_usual():
    asked = run_local(drill_ctx(), 7)
    topics = [d.topics[0] for d, _ in asked]

    assert topics[:5] == ["question from an earlier interview", "structure drill", "kubernetes", "role fit drill", "terraform"]
    structure_question = asked[1][1]
    assert is_story_question(structure_question), structure_question
    assert "Kubernetes" in asked[2][1] and "Terraform" in asked[4][1]
    pools = LocalInterviewer()._candidates(drill_ctx())
    role_and_jd = [c.text for c in pools["role"] + pools["jd"]]
    assert any(asked[3][1].endswith(text) for text in role_and_jd), asked[3][1]
    # Every target served: the interview carries on with the ordinary bank, without repeating one.
    assert not set(topics[5:]) & set(topics[:5])
    ctx = drill_ctx([TurnView("interviewer", "question", t) for _, t in asked], topics)
    assert focus_question(LocalInterviewer(), ctx, random.Random(1)) is None


def test_an_interview_without_focus_is_unchanged():
    plain = drill_ctx(focus={})
    assert focus_question(LocalInterviewer(), plain, random.Random(1)) is None
    _, text = LocalInterviewer().plan(plain, {INTRODUCE})
    assert "drill" not in text.lower()


@pytest.mark.parametrize(
    "focus",
    [
        None,
        [],
        "structure",
        {"dimensions": "structure", "terms": {"a": 1}, "questions": "ask me"},
        {"dimensions": [["x"], {"y": 1}, 3, "not-a-dimension"], "terms": [None, "", " "], "questions": [1, {"text": 5}, {"text": "  "}]},
    ],
)
def test_malformed_focus_is_ignored_by_both_engines(focus):
    ctx = drill_ctx(focus=focus)
    assert focus_targets(focus) == []
    decision, text = LocalInterviewer().plan(ctx, {INTRODUCE})
    assert "drill" not in text.lower()
    assert "Focus of this interview" not in prompts.interviewer_messages(ctx, {NEW_QUESTION})[1][1]


def test_huge_focus_entries_are_capped_in_both_engines():
    focus = {"dimensions": ["structure"] * 50, "terms": ["x" * 10_000] * 50, "questions": [{"text": "Why? " * 5_000}] * 50}
    assert len(focus_targets(focus)) <= 15
    assert all(len(value) <= 500 for _, value in focus_targets(focus))
    prompt = prompts.interviewer_messages(drill_ctx(focus=focus), {NEW_QUESTION})[1][1]
    assert len(prompt) < 10_000


def test_the_model_prompt_names_the_focus():
    user = prompts.interviewer_messages(drill_ctx(), {NEW_QUESTION})[1][1]
    assert "Focus of this interview (a drill on the candidate's weak spots)" in user
    assert "- Describe a time you missed a deadline?" in user
    assert "- structure: " in user and "- role_fit: " in user
    assert "kubernetes; terraform" in user
    assert "If you are introducing the interview, say in one sentence what this session targets." in user

    practise = drill_ctx(focus={"questions": FOCUS["questions"]})
    assert "(a second try at earlier questions)" in prompts.interviewer_messages(practise, {NEW_QUESTION})[1][1]
    assert "Focus of this interview" not in prompts.interviewer_messages(drill_ctx(focus={}), {NEW_QUESTION})[1][1]


# The model engine takes a provider slot (lib/caps.py), kept in the database without Redis.
@pytest.mark.django_db(transaction=True)
async def test_the_model_engine_sends_the_focus_to_the_model(fake_gemini):
    fake_gemini.script(chunks=["ACTION: new_question\nTOPICS: deadlines\nWHY: drill\n---\n", "Describe a time you missed a deadline?"])
    ctx = drill_ctx([TurnView("interviewer", "introduction", "Welcome. Tell me about yourself."), TurnView("candidate", "answer", "I build things.")])

    await collect(LLMEngine(MODEL).stream_turn(ctx, {NEW_QUESTION}))

    (request,) = fake_gemini.requests
    assert "Describe a time you missed a deadline?" in request.prompt
    assert "weakest rubric dimensions" in request.prompt and "kubernetes; terraform" in request.prompt


def test_the_context_carries_the_interviews_focus(owner):
    interview = make_interview(owner, focus=FOCUS)
    assert build_context(interview).focus == FOCUS
    Interview.objects.filter(pk=interview.pk).update(focus=["not", "a", "dict"])
    interview.refresh_from_db()
    assert build_context(interview).focus == {}
