"""LLMEngine against the real langchain-google-genai client and a protocol-level fake Gemini."""

import time

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from interviews.engine import llm, replies
from interviews.engine.base import (
    CLOSE,
    DIMENSIONS,
    FOLLOW_UP,
    INTRODUCE,
    NEW_QUESTION,
    AnsweredQuestion,
    CoachResult,
    Decision,
    EngineError,
    InterviewContext,
    ReportNarrative,
    TurnView,
    Usage,
)
from interviews.engine.llm import LLMEngine
from lib import resilience
from tests.fakes.gemini import fake_gemini  # noqa: F401  (the fixture)

MODEL = "google_genai:gemini-2.5-flash"

ANSWER = (
    "At Acme I led the migration of our billing service to Kubernetes. "
    "The old VMs were costing us a lot and deploys took an hour.  "
    "I wrote the Helm charts, set up canary releases and trained two colleagues. "
    "Deploys went from 60 minutes to 8 minutes and costs fell by 30%."
)


@pytest.fixture(autouse=True)
def fast(settings, monkeypatch):
    settings.INTERVIEW_LLM_TIMEOUT = 2.0
    settings.INTERVIEW_LLM_RETRIES = 2
    settings.INTERVIEW_LLM_TEMPERATURE = 0.4
    monkeypatch.setattr(resilience, "BACKOFF_BASE_SECONDS", 0.01)


def make_ctx(**kw):
    defaults = dict(
        job_role="Platform Engineer",
        company="Globex",
        job_description="Run Kubernetes clusters, build CI/CD pipelines, improve reliability (SLOs).",
        resume="5 years as a DevOps engineer at Acme; Kubernetes, Terraform, Helm.",
        style="technical",
        difficulty="hard",
        question_count=5,
        transcript=[
            TurnView("interviewer", "introduction", "Welcome! Tell me about a migration you led."),
            TurnView("candidate", "answer", ANSWER),
        ],
        topics_covered=["migrations"],
        main_questions_asked=1,
    )
    defaults.update(kw)
    return InterviewContext(**defaults)


async def collect(agen):
    items = []
    async for item in agen:
        items.append(item)
    return items


def split(items):
    decisions = [i for i in items if isinstance(i, Decision)]
    texts = [i for i in items if isinstance(i, str)]
    usages = [i for i in items if isinstance(i, Usage)]
    return decisions, texts, usages


def coach_json(**over):
    scores = {
        "relevance": {"score": 5, "evidence": "I led the migration of our billing service", "note": "On topic."},
        "structure": {"score": 4, "evidence": "Deploys went from 60 minutes to 8 minutes", "note": "Clear result."},
        "specificity": {"score": 5, "evidence": "costs fell by 30%", "note": "Numbers."},
        "communication": {"score": 4, "evidence": "I wrote the Helm charts", "note": "Concise."},
        "role_fit": {"score": 4, "evidence": "set up canary releases", "note": "Matches the JD."},
    }
    data = {
        "scores": scores,
        "strengths": ["Clear ownership", "Quantified result"],
        "improvements": ["Say why Kubernetes was chosen"],
        "text": "A strong, well-structured answer.",
    }
    data.update(over)
    return data


REPORT_JSON = {
    "patterns": "You consistently quantify results but rarely explain trade-offs.",
    "strengths": ["You quantify outcomes.", "You take ownership."],
    "focus_areas": [
        {"area": "Trade-offs", "why": "Few answers said why.", "next_steps": ["Practise 'we chose X over Y because'."]},
        {"area": "Brevity", "why": "Some answers ran long.", "next_steps": ["Aim for 2 minutes."]},
    ],
}


# ----- streaming turns -----


async def test_it_streams_a_turn_as_decision_then_text_chunks_then_usage(fake_gemini):
    fake_gemini.script(
        chunks=[
            "ACTION: follow_up\nTOPICS: canary releases; ",
            "rollback\nWHY: The result is clear but the rollback plan is not.\n---\n",
            "You mentioned canary ",
            "releases. How did you decide ",
            "when to roll back?",
        ],
        usage=(321, 17),
    )
    items = await collect(LLMEngine(MODEL).stream_turn(make_ctx(), {NEW_QUESTION, FOLLOW_UP}))

    assert isinstance(items[0], Decision) and isinstance(items[-1], Usage)
    decisions, texts, usages = split(items)
    assert len(decisions) == 1 and len(usages) == 1
    d = decisions[0]
    assert d.action == FOLLOW_UP
    assert d.topics == ["canary releases", "rollback"]
    assert d.justification == "The result is clear but the rollback plan is not."
    assert len(texts) >= 3, texts  # passed on as the frames arrived
    assert "".join(texts) == "You mentioned canary releases. How did you decide when to roll back?"
    u = usages[0]
    assert (u.tokens_in, u.tokens_out, u.calls, u.errors) == (321, 17, 1, 0)
    assert u.first_token_ms is not None and u.model_ms >= 0

    (req,) = fake_gemini.requests
    assert req.stream and req.query.get("alt") == "sse"
    assert req.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent" or req.path.endswith(
        "/models/gemini-2.5-flash:streamGenerateContent"
    )
    assert req.headers["x-goog-api-key"] == fake_gemini.api_key
    assert "Platform Engineer" in req.system and "Globex" in req.system
    assert "ACTION:" in req.system
    assert "Tell me about a migration you led." in req.prompt  # the transcript
    assert "costs fell by 30%" in req.prompt
    assert "Helm" in req.prompt  # the résumé
    assert "new_question" in req.prompt and "follow_up" in req.prompt and "close:" not in req.prompt
    assert req.generation_config.get("temperature") == pytest.approx(0.4)


async def test_it_yields_the_first_text_before_the_stream_ends(fake_gemini):
    fake_gemini.script(chunks=["ACTION: new_question\n---\nFirst words", " then", " more", " words."], chunk_delay=0.15)
    engine = LLMEngine(MODEL)
    engine.model  # built (and LangChain imported) before the clock starts, as a warmed-up process has it
    start = time.monotonic()
    seen = []
    async for item in engine.stream_turn(make_ctx(), {NEW_QUESTION}):
        seen.append((time.monotonic() - start, item))
    first_text_at = next(t for t, i in seen if isinstance(i, str))
    done_at = seen[-1][0]
    assert done_at - first_text_at >= 0.35  # three more frames, 0.15 s apart, came later
    usage = seen[-1][1]
    assert usage.first_token_ms < usage.model_ms


async def test_it_coerces_a_disallowed_action(fake_gemini):
    fake_gemini.script("ACTION: new_question\nTOPICS: ci/cd\nWHY: next topic\n---\nThank you, that is all for today.")
    items = await collect(LLMEngine(MODEL).stream_turn(make_ctx(), {CLOSE}))
    decisions, texts, _ = split(items)
    assert decisions[0].action == CLOSE
    assert "new_question" in decisions[0].justification
    assert "".join(texts) == "Thank you, that is all for today."


async def test_it_treats_output_without_a_header_as_text_with_the_default_action(fake_gemini):
    fake_gemini.script("Hello and welcome! I am Sam. Could you walk me through your last project?")
    items = await collect(LLMEngine(MODEL).stream_turn(make_ctx(transcript=[], main_questions_asked=0), {INTRODUCE}))
    decisions, texts, _ = split(items)
    assert decisions[0].action == INTRODUCE and decisions[0].topics == []
    assert "".join(texts) == "Hello and welcome! I am Sam. Could you walk me through your last project?"


async def test_it_handles_a_garbled_header_without_separator(fake_gemini):
    fake_gemini.script("ACTION: ???\nTOPICS: testing\nWhat is your approach to testing infrastructure code?")
    items = await collect(LLMEngine(MODEL).stream_turn(make_ctx(), {NEW_QUESTION, FOLLOW_UP}))
    decisions, texts, _ = split(items)
    assert decisions[0].action == NEW_QUESTION  # the default allowed action
    assert decisions[0].topics == ["testing"]
    assert "".join(texts) == "What is your approach to testing infrastructure code?"


async def test_it_retries_a_429_then_succeeds_and_counts_the_error(fake_gemini):
    fake_gemini.fail(429)
    fake_gemini.script("ACTION: new_question\n---\nWhat does an SLO mean to you?", usage=(10, 8))
    items = await collect(LLMEngine(MODEL).stream_turn(make_ctx(), {NEW_QUESTION}))
    decisions, texts, usages = split(items)
    assert "".join(texts) == "What does an SLO mean to you?"
    assert (usages[0].calls, usages[0].errors) == (2, 1)
    assert usages[0].tokens_in == 10
    assert len(fake_gemini.requests) == 2


async def test_it_gives_up_on_repeated_429_with_a_busy_message(fake_gemini):
    fake_gemini.fail(429, times=5)
    with pytest.raises(EngineError, match="busy") as info:
        await collect(LLMEngine(MODEL).stream_turn(make_ctx(), {NEW_QUESTION}))
    assert len(fake_gemini.requests) == 3  # 1 + INTERVIEW_LLM_RETRIES
    assert info.value.usage.errors == 3 and info.value.usage.calls == 3
    assert info.value.kind == "rate_limit"
    assert "RESOURCE_EXHAUSTED" not in str(info.value)  # safe for the candidate


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_it_fails_at_once_on_client_errors(fake_gemini, status):
    fake_gemini.fail(status, times=3)
    with pytest.raises(EngineError) as info:
        await collect(LLMEngine(MODEL).stream_turn(make_ctx(), {NEW_QUESTION}))
    assert len(fake_gemini.requests) == 1
    assert info.value.usage.errors == 1
    assert info.value.kind in {"invalid", "auth"}


async def test_it_does_not_retry_once_text_was_streamed_and_the_socket_dropped(fake_gemini):
    fake_gemini.script(chunks=["ACTION: new_question\n---\n", "Tell me about ", "the time you", " never finished"], drop_after=2)
    fake_gemini.script("ACTION: new_question\n---\nA second reply that must not be used.")
    got = []
    with pytest.raises(EngineError, match="cut off") as info:
        async for item in LLMEngine(MODEL).stream_turn(make_ctx(), {NEW_QUESTION}):
            got.append(item)
    decisions, texts, _ = split(got)
    assert len(decisions) == 1 and "".join(texts) == "Tell me about "
    assert len(fake_gemini.requests) == 1 and fake_gemini.pending == 1
    assert info.value.usage.errors == 1


async def test_it_retries_a_drop_before_any_text_and_keeps_the_announced_action(fake_gemini):
    # The header arrives (and the Decision is yielded), then the socket drops before any text.
    fake_gemini.script(chunks=["ACTION: follow_up\nTOPICS: rollback\n---\n", "never sent"], drop_after=1)
    fake_gemini.script("ACTION: new_question\n---\nHow did you plan the rollback?")
    items = await collect(LLMEngine(MODEL).stream_turn(make_ctx(), {NEW_QUESTION, FOLLOW_UP}))
    decisions, texts, usages = split(items)
    assert [d.action for d in decisions] == [FOLLOW_UP]  # one Decision only, the first
    assert "".join(texts) == "How did you plan the rollback?"
    assert (usages[0].calls, usages[0].errors) == (2, 1)
    retry = fake_gemini.requests[1]
    assert "follow_up:" in retry.prompt and "new_question:" not in retry.prompt


async def test_it_retries_an_empty_reply(fake_gemini):
    fake_gemini.script("ACTION: close\n---\n")
    fake_gemini.script("ACTION: close\n---\nThanks, that is all.")
    items = await collect(LLMEngine(MODEL).stream_turn(make_ctx(), {CLOSE}))
    _, texts, usages = split(items)
    assert "".join(texts) == "Thanks, that is all." and usages[0].errors == 1


async def test_it_times_out_and_raises_after_retries(fake_gemini, settings):
    settings.INTERVIEW_LLM_TIMEOUT = 0.3
    settings.INTERVIEW_LLM_RETRIES = 1
    fake_gemini.hang(3, times=2)
    start = time.monotonic()
    with pytest.raises(EngineError, match="too long") as info:
        await collect(LLMEngine(MODEL).stream_turn(make_ctx(), {NEW_QUESTION}))
    assert time.monotonic() - start < 2.0
    assert len(fake_gemini.requests) == 2
    assert info.value.usage.errors == 2
    assert info.value.usage.model_ms >= 500  # two waits of 0.3 s


async def test_it_retries_malformed_json_then_succeeds(fake_gemini):
    fake_gemini.script(malformed=True)
    fake_gemini.script("ACTION: new_question\n---\nWhy Kubernetes?")
    items = await collect(LLMEngine(MODEL).stream_turn(make_ctx(), {NEW_QUESTION}))
    _, texts, usages = split(items)
    assert "".join(texts) == "Why Kubernetes?" and usages[0].errors == 1


async def test_it_raises_an_engine_error_on_persistent_malformed_json(fake_gemini):
    fake_gemini.script(malformed=True, times=3)
    with pytest.raises(EngineError, match="could not be read"):
        await LLMEngine(MODEL).coach(make_ctx(), "Tell me about a migration.", ANSWER, {})
    assert len(fake_gemini.requests) == 3


# ----- the coach and the report -----


async def test_it_parses_coach_output_clamps_scores_and_validates_evidence(fake_gemini):
    data = coach_json()
    data["scores"]["relevance"]["score"] = 7
    data["scores"]["structure"]["score"] = 0
    # Different case and spacing, wrapped in quotes: still a quote, returned verbatim from the answer.
    data["scores"]["structure"]["evidence"] = '"deploys WENT from 60   minutes"'
    # Invented: not in the answer, replaced by the answer's best-matching sentence.
    data["scores"]["specificity"]["evidence"] = "we saved a million dollars on costs"
    data["scores"]["communication"]["evidence"] = ""
    fake_gemini.script(json=data, usage=(900, 120))

    result = await LLMEngine(MODEL).coach(make_ctx(), "Tell me about a migration you led.", ANSWER, {"words": 60})

    assert isinstance(result, CoachResult) and result.source == MODEL
    assert set(result.scores) == set(DIMENSIONS)
    assert result.scores["relevance"]["score"] == 5
    assert result.scores["structure"]["score"] == 1
    assert result.scores["structure"]["evidence"] == "Deploys went from 60 minutes"
    assert result.scores["specificity"]["evidence"] == "Deploys went from 60 minutes to 8 minutes and costs fell by 30%."
    for dim in DIMENSIONS:
        ev = result.scores[dim]["evidence"]
        assert ev and ev in ANSWER, (dim, ev)
    assert result.strengths == ["Clear ownership", "Quantified result"]
    assert result.improvements == ["Say why Kubernetes was chosen"]
    assert result.text == "A strong, well-structured answer."
    assert (result.usage.tokens_in, result.usage.tokens_out, result.usage.calls) == (900, 120, 1)

    (req,) = fake_gemini.requests
    assert not req.stream
    config = req.generation_config
    assert config.get("responseMimeType") == "application/json"
    assert "role_fit" in str(config.get("responseJsonSchema") or config.get("responseSchema"))
    assert "costs fell by 30%" in req.prompt and '"words": 60' in req.prompt


async def test_it_checks_the_coachs_quotes_off_the_event_loop(fake_gemini, monkeypatch):
    """Matching quotes against a 10,000-character answer is text work: never on the loop."""
    import threading


    checked_on = []
    original = replies.verify_evidence
    monkeypatch.setattr(replies, "verify_evidence", lambda *a, **kw: (checked_on.append(threading.get_ident()), original(*a, **kw))[1])
    fake_gemini.script(json=coach_json())
    await LLMEngine(MODEL).coach(make_ctx(), "Q?", ANSWER, {})
    assert checked_on and threading.get_ident() not in checked_on


async def test_it_builds_the_coach_schema_once_and_sends_it_on_every_call(fake_gemini, monkeypatch):
    engine = LLMEngine(MODEL)
    built = []
    original = type(engine.model).with_structured_output

    def counting(self, *args, **kwargs):
        built.append(args[0] if args else kwargs.get("schema"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(engine.model), "with_structured_output", counting)
    for _ in range(3):
        fake_gemini.script(json=coach_json())
        await engine.coach(make_ctx(), "Q?", ANSWER, {})

    assert len(built) == 1
    assert len(fake_gemini.requests) == 3
    assert all("role_fit" in str(r.generation_config) for r in fake_gemini.requests)


async def test_it_retries_server_errors_for_the_coach(fake_gemini):
    fake_gemini.fail(500)
    fake_gemini.fail(503)
    fake_gemini.script(json=coach_json())
    result = await LLMEngine(MODEL).coach(make_ctx(), "Q?", ANSWER, {})
    assert result.scores["specificity"]["score"] == 5
    assert (result.usage.calls, result.usage.errors) == (3, 2)


async def test_it_retries_coach_output_missing_a_dimension(fake_gemini):
    bad = coach_json()
    del bad["scores"]["role_fit"]
    fake_gemini.script(json=bad)
    fake_gemini.script(json=coach_json())
    result = await LLMEngine(MODEL).coach(make_ctx(), "Q?", ANSWER, {})
    assert result.scores["role_fit"]["score"] == 4 and result.usage.errors == 1


async def test_it_fails_at_once_when_the_coach_request_is_rejected(fake_gemini):
    fake_gemini.fail(400, times=3)
    with pytest.raises(EngineError):
        await LLMEngine(MODEL).coach(make_ctx(), "Q?", ANSWER, {})
    assert len(fake_gemini.requests) == 1


async def test_it_parses_the_report(fake_gemini):
    fake_gemini.script(json=REPORT_JSON, usage=(1500, 200))
    answered = [
        AnsweredQuestion("Tell me about a migration.", ANSWER, {d: {"score": 4} for d in DIMENSIONS}, {"words": 60}),
        AnsweredQuestion("How do you handle incidents?", "I follow the runbook.", {}, {"words": 4}),
    ]
    narrative = await LLMEngine(MODEL).report(make_ctx(), answered)
    assert isinstance(narrative, ReportNarrative) and narrative.source == MODEL
    assert narrative.patterns.startswith("You consistently quantify")
    assert narrative.strengths == ["You quantify outcomes.", "You take ownership."]
    assert [a["area"] for a in narrative.focus_areas] == ["Trade-offs", "Brevity"]
    assert narrative.focus_areas[0]["next_steps"] == ["Practise 'we chose X over Y because'."]
    assert (narrative.usage.tokens_in, narrative.usage.tokens_out) == (1500, 200)
    prompt = fake_gemini.requests[0].prompt
    assert "How do you handle incidents?" in prompt and "I follow the runbook." in prompt


async def test_it_builds_the_chat_model_with_init_chat_model(fake_gemini, settings):
    from langchain_google_genai import ChatGoogleGenerativeAI

    model = LLMEngine(MODEL).model
    assert isinstance(model, ChatGoogleGenerativeAI)
    assert model.model.endswith("gemini-2.5-flash")
    assert model.base_url == fake_gemini.url
    assert model.max_retries == 0
    assert model.temperature == pytest.approx(0.4)
    assert model.timeout == pytest.approx(settings.INTERVIEW_LLM_TIMEOUT)


async def test_it_reports_a_missing_api_key_as_an_engine_error(fake_gemini, monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY")
    with pytest.raises(EngineError, match="not configured"):
        await LLMEngine(MODEL).coach(make_ctx(), "Q?", ANSWER, {})
    assert fake_gemini.requests == []


# ----- LangChain's fake chat model -----


async def test_it_streams_word_by_word_from_a_generic_fake_chat_model():
    reply = AIMessage(content="ACTION: close\nTOPICS: wrap-up\nWHY: time is up\n---\nThank you for your time today.")
    engine = LLMEngine("fake", model=GenericFakeChatModel(messages=iter([reply])))
    items = await collect(engine.stream_turn(make_ctx(), {CLOSE}))
    decisions, texts, usages = split(items)
    assert decisions[0] == Decision(action=CLOSE, justification="time is up", topics=["wrap-up"])
    assert len(texts) > 3  # word by word
    assert "".join(texts) == "Thank you for your time today."
    assert usages[0].calls == 1 and usages[0].tokens_in == 0


async def test_it_coaches_with_a_model_without_structured_output_support():
    import json

    text = "Here you go:\n```json\n" + json.dumps(coach_json()) + "\n```"
    engine = LLMEngine("fake", model=GenericFakeChatModel(messages=iter([AIMessage(content=text)])))
    result = await engine.coach(make_ctx(), "Q?", ANSWER, {})
    assert result.scores["relevance"] == {
        "score": 5,
        "evidence": "I led the migration of our billing service",
        "note": "On topic.",
    }


async def test_it_retries_unreadable_text_from_a_fake_model_then_gives_up(settings):
    settings.INTERVIEW_LLM_RETRIES = 1
    messages = iter([AIMessage(content="not json at all"), AIMessage(content="still not json")])
    engine = LLMEngine("fake", model=GenericFakeChatModel(messages=messages))
    with pytest.raises(EngineError, match="could not be read") as info:
        await engine.report(make_ctx(), [])
    assert info.value.usage.calls == 2 and info.value.usage.errors == 2


# ----- helpers -----


def test_it_never_returns_evidence_that_is_not_in_the_answer():
    answer = "I built the “pipeline” myself.\nIt cut build times by half!"
    assert replies.verify_evidence("i built the \"pipeline\"", answer) == "I built the “pipeline”"
    assert replies.verify_evidence("…cut build times…", answer) == "cut build times"
    assert replies.verify_evidence("made everything faster and better", answer, hint="build times") in (
        "I built the “pipeline” myself.",
        "It cut build times by half!",
    )
    assert replies.verify_evidence("anything", "") == ""


def test_it_classifies_errors_for_retrying():
    import httpx

    assert llm.classify(TimeoutError()) == ("timeout", True)
    assert llm.classify(httpx.ConnectError("refused")) == ("connection", True)
    assert llm.classify(ValueError("bug")) == ("other", False)
