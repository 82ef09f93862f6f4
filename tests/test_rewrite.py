""""A stronger answer, from your own facts": the local rewrite, the grounding
check both engines use, the model path with a fake model that invents, the
pages and the exports."""

import json
import re
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from django.template.loader import render_to_string
from django.urls import reverse
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from interviews import coaching
from interviews.engine import rewrite
from interviews.engine.analysis import find_numbers, words_of
from interviews.engine.base import DIMENSIONS, InterviewContext
from interviews.engine.llm import LLMEngine
from interviews.engine.local import LocalEngine
from interviews.engine.rewrite import GAPS, NAME_GAP, NUMBER_GAP, RESULT_NUMBER_GAP, build, ground, parts
from interviews.models import Feedback, Interview, Turn
from lib import resilience
from tests.factories import answered, ask, make_interview
from tests.fakes.gemini import fake_gemini  # noqa: F401  (the fixture)

MODEL = "google_genai:gemini-2.5-flash"
QUESTION = "Tell me about a migration you led."
ANSWER = (
    "At Acme I led the migration of our billing service to Kubernetes. "
    "The old VMs were costing us a lot and deploys took an hour. "
    "I wrote the Helm charts, set up canary releases and trained two colleagues. "
    "Deploys went from 60 minutes to 8 minutes and costs fell by 30%."
)
RESUME = "Platform engineer, Acme, 2019-2024\n- Cut cloud spend by 25% across 12 services at Acme\nKubernetes, Terraform, Helm"

STORIES = [
    ANSWER,
    "Um, so basically our team had a release that kept failing, you know. I was asked to fix it by Friday. "
    "I used various tools, Python and Jenkins, and stuff, etc. I rewrote the pipeline and added tests. "
    "In the end the release went out.",
    "We had lots of bugs. I triaged them with the QA lead.",
    "Last year our Django app timed out under load. My goal was p95 under 300 ms. "
    "I profiled it, added Redis caching and batched writes. The p95 fell from 900 ms to 250 ms, a 72% drop.",
    "I don't really have a story for that [sorry].",
]


def outside_placeholders(text):
    return re.sub(r"\[[^\[\]]*\]", " ", text)


def line(text, label):
    found = [x for x in text.splitlines() if x.startswith(label + ": ")]
    assert len(found) == 1, (label, text)
    return found[0][len(label) + 2 :]


# ----- the local rewrite -----


def test_it_restructures_a_story_into_situation_task_action_result():
    text = build(QUESTION, ANSWER, RESUME)
    assert [x.split(":")[0] for x in text.splitlines()] == ["Situation", "Task", "Action", "Result"]
    assert line(text, "Situation").startswith("At Acme I led the migration of our billing service to Kubernetes.")
    assert line(text, "Action") == "I wrote the Helm charts, set up canary releases and trained two colleagues."
    assert line(text, "Result") == "Deploys went from 60 minutes to 8 minutes and costs fell by 30%."
    # The answer never said what the task was: a visible placeholder, not an invented one.
    assert line(text, "Task") == GAPS["task"]


def test_it_leaves_visible_placeholders_where_a_part_is_missing():
    no_result = build(QUESTION, "Our checkout was slow last year. I was asked to fix it. I profiled the queries and added an index.")
    assert line(no_result, "Result") == GAPS["result"] == "[the result: what changed, with a number]"
    unmeasured = build(QUESTION, "Our checkout was slow. I added an index. In the end customers were happier.")
    assert line(unmeasured, "Result") == "In the end customers were happier. " + RESULT_NUMBER_GAP
    assert parts(unmeasured)[-1] == ("Result", [("In the end customers were happier. ", False), (RESULT_NUMBER_GAP, True)])


def test_it_replaces_vague_words_with_the_specifics_given_or_a_placeholder():
    text = build(QUESTION, STORIES[1], RESUME)
    # Fillers and "etc." are gone; "various tools" becomes the tools the answer named elsewhere.
    assert not re.search(r"\b(um|basically|you know|etc)\b", text, re.I)
    assert "I used Python and Jenkins" not in text  # both were already in that sentence
    tools = build(QUESTION, "I used Python for the job. Later I used various tools to test it. The tests ran 3 times faster.")
    assert "Later I used Python to test it." in tools and "various" not in tools
    named = build(QUESTION, "We migrated to Kubernetes and Terraform. I used various tools to automate it. Costs fell 20%.")
    assert "I used Kubernetes and Terraform to automate it." in named
    vague = build(QUESTION, "The old system was costing us a lot. I fixed lots of bugs. Costs fell 20%.")
    assert "costing us [how much, as a number]." in vague and "I fixed [how many] bugs." in vague


def test_it_offers_a_resume_line_only_inside_a_placeholder():
    text = build(QUESTION, "I moved our cloud services to Kubernetes and wrote the Terraform modules myself.", RESUME)
    # The closest résumé lines are suggestions, since they may be another story's.
    assert line(text, "Situation") == GAPS["situation"][:-1] + ". Your résumé has: \u201cKubernetes, Terraform, Helm\u201d]"
    assert line(text, "Result") == GAPS["result"][:-1] + ". Your résumé has: \u201cCut cloud spend by 25% across 12 services at Acme\u201d]"
    assert "25%" not in outside_placeholders(text) and ground(text, "I moved our cloud services", RESUME) == text


def test_it_answers_a_question_that_is_not_a_story_directly_first():
    text = build("Why do you want to work here?", "I have followed you for years. I want to work here because your team builds reliable platforms.")
    assert line(text, "Answer") == "I want to work here because your team builds reliable platforms."
    assert line(text, "Details") == "I have followed you for years."
    assert line(text, "Example") == GAPS["example"]


@pytest.mark.parametrize("answer", STORIES)
def test_it_adds_no_fact_the_candidate_did_not_give(answer):
    text = build(QUESTION, answer, RESUME)
    assert text
    # Outside the placeholders, every word is the candidate's (or the "and" joining tools they named).
    assert set(words_of(outside_placeholders(text))) - {"and", "situation", "task", "action", "result"} <= set(words_of(answer))
    for number in find_numbers(text):
        assert number in answer or number in RESUME, number
    # And the check, which a model's rewrite goes through, finds nothing to change in it.
    assert ground(text, answer, RESUME) == text


def test_it_writes_nothing_for_an_empty_answer():
    assert build(QUESTION, "   ", RESUME) == "" and ground("", "", RESUME) == ""


# ----- the check -----


def test_the_check_replaces_an_invented_number_and_name_and_removes_an_invented_claim():
    invented = (
        "Situation: At Acme I led the migration of our billing service to Kubernetes.\n"
        "Task: I had to cut costs by 45% before our Google audit.\n"
        "Action: I wrote the Helm charts and trained two colleagues.\n"
        "Result: Deploys went from 60 minutes to 8 minutes, and I won the company innovation award for it."
    )
    text = ground(invented, ANSWER, RESUME)
    assert "45" not in text and "Google" not in text and "award" not in text
    assert line(text, "Task") == f"I had to cut costs by {NUMBER_GAP} before our {NAME_GAP} audit."
    assert line(text, "Result") == "Deploys went from 60 minutes to 8 minutes."
    assert line(text, "Situation") == "At Acme I led the migration of our billing service to Kubernetes."
    assert line(text, "Action") == "I wrote the Helm charts and trained two colleagues."


def test_the_check_keeps_the_candidates_facts_in_new_words_and_from_the_resume():
    faithful = (
        "Situation: At Acme, deploys took an hour on the old VMs.\n"
        "Action: I personally wrote the Helm charts, then set up canary releases.\n"
        "Result: As a result, deploys went from 60 minutes to 8 minutes and costs fell by 30%. "
        "Across 12 services, cloud spend fell by 25%."
    )
    assert ground(faithful, ANSWER, RESUME) == faithful


def test_the_check_clears_an_invented_fact_hidden_in_a_placeholder():
    text = ground("Result: Costs fell by 30%. [the result: revenue grew 40% at Initech]", ANSWER, RESUME)
    assert text == "Result: Costs fell by 30%. " + GAPS["result"]
    assert ground("Result: [the result: what changed, with a number]", ANSWER, RESUME) == "Result: " + GAPS["result"]


def test_the_check_gives_an_emptied_part_its_placeholder_back():
    text = ground("Situation: Google hired me to rebuild their search ranking.\nResult: 99% uptime.", ANSWER, RESUME)
    assert line(text, "Situation") == GAPS["situation"]
    assert line(text, "Result") == f"{NUMBER_GAP} uptime."


def test_the_check_reads_labels_written_inline_or_in_bold():
    text = ground("**Situation:** At Acme, deploys took an hour. Task: [your task] **Result:** Costs fell by 30%.", ANSWER)
    assert text == "Situation: At Acme, deploys took an hour.\nTask: [your task]\nResult: Costs fell by 30%."


def test_the_check_turns_stray_brackets_into_parentheses():
    assert ground("Action: I wrote [the Helm charts", ANSWER) == "Action: I wrote (the Helm charts"


def test_it_is_cheap_on_hostile_input():
    """100 KB of adversarial text in every input: well under a second of CPU, whatever it holds."""
    hostile = [
        "1,1,1," * 17_000,
        "A " * 50_000,
        "[" * 100_000,
        "I led. " * 15_000,
        "Um, like, various tools stuff a lot etc. 30% $5m Acme [x] " * 1_800,
        "a" * 100_000,
    ]
    for text in hostile:
        started = time.process_time()
        out = build(QUESTION, text, text)
        checked = ground(text, text, text)
        ground(out, "short", text)
        parts(checked)
        assert time.process_time() - started < 1.0, text[:20]
        assert len(checked) <= rewrite.MAX_REWRITE_CHARS


# ----- the local coach fills Feedback.rewrite -----


def test_the_local_coach_saves_the_rewrite_with_its_placeholders(owner):
    interview = make_interview(owner)
    ask(interview, QUESTION, Turn.Kind.INTRODUCTION)
    turn = interview.accept_answer("Our checkout was slow last year. I was asked to fix it. I profiled the queries and added an index.", 0)
    _, answer, question_text, metrics, ctx = coaching.prepare(turn.id)
    result = async_to_sync(coaching.coach)(LocalEngine(), answer.text, question_text, metrics, ctx)
    coaching.save(turn.id, metrics, result)
    saved = Feedback.objects.get(turn=turn).rewrite
    assert saved == result.rewrite
    assert "I profiled the queries and added an index." in saved
    assert GAPS["result"] in saved


# ----- the model engine: a fake model that invents -----


def coach_json(rewrite_text):
    scores = {d: {"score": 4, "evidence": "I wrote the Helm charts", "note": "Fine."} for d in DIMENSIONS}
    return {"scores": scores, "strengths": ["Ownership"], "improvements": ["Say why"], "text": "Solid.", "rewrite": rewrite_text}


INVENTING = (
    "Situation: At Acme I led the migration of our billing service to Kubernetes.\n"
    "Task: [your task: what you had to achieve]\n"
    "Action: I wrote the Helm charts, set up canary releases and trained two colleagues.\n"
    "Result: Deploys went from 60 minutes to 8 minutes and costs fell by 45%."
)


@pytest.fixture
def fast(settings, monkeypatch):
    settings.INTERVIEW_LLM_TIMEOUT = 2.0
    settings.INTERVIEW_LLM_RETRIES = 1
    monkeypatch.setattr(resilience, "BACKOFF_BASE_SECONDS", 0.01)


def test_an_invented_number_from_the_model_never_reaches_the_saved_rewrite(owner, fake_gemini, fast):  # noqa: F811
    interview = make_interview(owner, resume=RESUME)
    ask(interview, QUESTION, Turn.Kind.INTRODUCTION)
    turn = interview.accept_answer(ANSWER, 0)
    fake_gemini.script(json=coach_json(INVENTING))
    _, answer, question_text, metrics, ctx = coaching.prepare(turn.id)
    result = async_to_sync(coaching.coach)(LLMEngine(MODEL), answer.text, question_text, metrics, ctx)
    coaching.save(turn.id, metrics, result)

    saved = Feedback.objects.get(turn=turn)
    assert saved.source == MODEL
    assert "45" not in saved.rewrite
    assert line(saved.rewrite, "Result") == f"Deploys went from 60 minutes to 8 minutes and costs fell by {NUMBER_GAP}."
    assert line(saved.rewrite, "Action") == "I wrote the Helm charts, set up canary releases and trained two colleagues."
    # The model was asked for the rewrite in the same call, and shown the résumé to draw on.
    (req,) = fake_gemini.requests
    assert "rewrite" in str(req.generation_config) and "Cut cloud spend by 25%" in req.prompt
    assert "Never add a number, a name" in req.system


async def test_the_model_rewrite_is_checked_off_the_event_loop(fake_gemini, fast, monkeypatch):  # noqa: F811
    checked_on = []
    original = rewrite.ground
    monkeypatch.setattr(rewrite, "ground", lambda *a: (checked_on.append(threading.get_ident()), original(*a))[1])
    fake_gemini.script(json=coach_json(INVENTING))
    result = await LLMEngine(MODEL).coach(InterviewContext(job_role="Platform Engineer", resume=RESUME), QUESTION, ANSWER, {})
    assert "45%" not in result.rewrite and NUMBER_GAP in result.rewrite
    assert checked_on and threading.get_ident() not in checked_on


async def test_a_model_without_structured_output_gets_the_same_check():
    text = "```json\n" + json.dumps(coach_json("Result: Costs fell by 30% and revenue doubled at Initech.")) + "\n```"
    engine = LLMEngine("fake", model=GenericFakeChatModel(messages=iter([AIMessage(content=text)])))
    result = await engine.coach(InterviewContext(job_role="Platform Engineer"), QUESTION, ANSWER, {})
    assert "doubled" not in result.rewrite and "Initech" not in result.rewrite
    assert result.rewrite.startswith("Result: Costs fell by 30%")


async def test_the_local_rewrite_stands_in_when_the_model_gives_none():
    data = coach_json("")
    del data["rewrite"]
    engine = LLMEngine("fake", model=GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(data))])))
    result = await engine.coach(InterviewContext(job_role="Platform Engineer", resume=RESUME), QUESTION, ANSWER, {})
    assert result.rewrite == build(QUESTION, ANSWER, RESUME)


# ----- the pages and the exports -----

HOSTILE = "<img src=x onerror=alert(1)> [x](javascript:alert(1)) **bold** # Heading"


@pytest.fixture
def with_rewrite(owner):
    interview = answered(owner, answers=[ANSWER])
    interview.add_interviewer_turn(Turn.Kind.CLOSING, "Thank you, that's all.")
    turn = interview.turns.get(speaker=Turn.Speaker.CANDIDATE)
    scores = {d: {"score": 4, "evidence": "I wrote the Helm charts", "note": "n"} for d in DIMENSIONS}
    text = f"Situation: At Acme {HOSTILE}\nTask: {GAPS['task']}\nResult: Deploys went from 60 minutes to 8 minutes."
    Feedback.objects.create(turn=turn, status=Feedback.Status.READY, scores=scores, text="Good.", rewrite=text)
    Interview.objects.filter(pk=interview.pk).update(summary={"overall": 75, "dimensions": {}}, summary_status="ready")
    return Interview.objects.get(pk=interview.pk)


def test_the_feedback_shows_the_rewrite_with_placeholders_marked_and_text_escaped(with_rewrite):
    feedback = Feedback.objects.get(turn__interview=with_rewrite)
    html = render_to_string("interviews/partials/feedback.html", {"feedback": feedback})
    assert "A stronger answer, from your own facts" in html
    assert f'<mark class="placeholder">{GAPS["task"]}</mark>' in html
    assert "<strong>Result:</strong> Deploys went from 60 minutes to 8 minutes." in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_report_shows_each_answers_rewrite(with_rewrite, owner_client):
    page = owner_client.get(reverse("interview_report", args=[with_rewrite.id])).content.decode()
    assert page.count("A stronger answer, from your own facts") == 1
    assert f'<mark class="placeholder">{GAPS["task"]}</mark>' in page


def test_the_json_export_carries_the_rewrite(with_rewrite, owner_client):
    data = json.loads(owner_client.get(reverse("report_download", args=[with_rewrite.id, "json"])).content)
    (answer,) = [t for t in data["interview"]["turns"] if t["speaker"] == "candidate"]
    assert answer["feedback"]["rewrite"] == Feedback.objects.get(turn__interview=with_rewrite).rewrite


def test_the_markdown_export_carries_the_rewrite_inert_with_placeholders_in_italics(with_rewrite, owner_client):
    import cmarkgfm
    from cmarkgfm.cmark import Options

    text = owner_client.get(reverse("report_download", args=[with_rewrite.id, "md"])).content.decode()
    assert "**A stronger answer, from your own facts**" in text
    assert "- Result: Deploys went from 60 minutes to 8 minutes." in text
    html = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    assert f"<em>{GAPS['task']}</em>" in html
    assert "<img" not in html and "<a " not in html and "<h1>Heading" not in html
    # Shown as text; a stored rewrite's square brackets are placeholders, so "[x]" is one.
    assert "<em>[x]</em>(javascript:alert(1))" in html and "**bold**" in html


def test_it_restructures_the_first_80_sentences_of_a_long_answer():
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet".split()
    sentences = [f"I checked the {words[i // 10]} {words[i % 10]} queue." for i in range(100)]
    text = build(QUESTION, " ".join(sentences))
    assert sentences[79] in text and sentences[80] not in text
