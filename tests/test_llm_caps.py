"""The chat model's calls under a cross-process cap (CAP_LLM) and a breaker,
like the speech providers: the real SDK against the fake Gemini."""

import asyncio

import pytest

from interviews.engine.base import NEW_QUESTION, EngineError
from interviews.engine.llm import LLMEngine
from lib import resilience
from lib.caps import get_cap
from tests.fakes.gemini import fake_gemini  # noqa: F401  (the fixture)
from tests.test_engine_llm import MODEL, REPORT_JSON, collect, make_ctx

# The cap's slots are rows (or Redis keys) that every task must see at once.
pytestmark = pytest.mark.django_db(transaction=True)

TURN = "ACTION: new_question\n---\nWhat does an SLO mean to you?"


@pytest.fixture(autouse=True)
def capped(settings, monkeypatch):
    settings.CAP_LLM = 1
    settings.LLM_CAP_WAIT_SECONDS = 0.3
    settings.INTERVIEW_LLM_TIMEOUT = 5
    settings.INTERVIEW_LLM_RETRIES = 2
    monkeypatch.setattr(resilience, "BACKOFF_BASE_SECONDS", 0.01)


async def test_a_full_cap_makes_a_turn_wait_then_fail_with_the_retry_message(fake_gemini):
    cap = get_cap("llm")
    slot = await cap.aacquire(timeout=1)  # another process's call holds the only slot
    try:
        with pytest.raises(EngineError, match="Please retry") as info:
            await collect(LLMEngine(MODEL).stream_turn(make_ctx(), {NEW_QUESTION}))
    finally:
        await slot.arelease()
    assert info.value.kind == "busy"
    assert fake_gemini.requests == []  # not sent, and not retried


async def test_calls_beyond_the_cap_wait_their_turn(fake_gemini, settings):
    settings.LLM_CAP_WAIT_SECONDS = 10
    fake_gemini.script(TURN, latency=0.3)
    fake_gemini.script(TURN, latency=0.3)
    engine = LLMEngine(MODEL)
    in_flight = peak = 0

    async def one():
        nonlocal in_flight, peak
        started = False
        async for item in engine.stream_turn(make_ctx(), {NEW_QUESTION}):
            if isinstance(item, str) and not started:
                started = True
                in_flight += 1
                peak = max(peak, in_flight)
        in_flight -= 1

    await asyncio.gather(one(), one())
    assert len(fake_gemini.requests) == 2
    assert peak == 1  # the second turn streamed only once the first was done
    assert await get_cap("llm").ain_use() == 0  # both slots given back


async def test_the_coach_and_report_calls_take_a_slot_too(fake_gemini):
    slot = await get_cap("llm").aacquire(timeout=1)
    try:
        with pytest.raises(EngineError) as info:
            await LLMEngine(MODEL).report(make_ctx(), [])
    finally:
        await slot.arelease()
    assert info.value.kind == "busy" and fake_gemini.requests == []
    fake_gemini.script(json=REPORT_JSON)
    assert (await LLMEngine(MODEL).report(make_ctx(), [])).patterns.startswith("You consistently")


async def test_repeated_failures_open_the_breaker_and_calls_stop_reaching_the_model(fake_gemini, settings):
    settings.INTERVIEW_LLM_RETRIES = 0
    fake_gemini.fail(500, times=50)
    engine = LLMEngine(MODEL)
    for _ in range(resilience.FAILURE_THRESHOLD):
        with pytest.raises(EngineError):
            await collect(engine.stream_turn(make_ctx(), {NEW_QUESTION}))
    sent = len(fake_gemini.requests)
    with pytest.raises(EngineError) as info:
        await collect(engine.stream_turn(make_ctx(), {NEW_QUESTION}))
    assert info.value.kind == "unavailable" and "paused" in str(info.value)
    assert len(fake_gemini.requests) == sent == resilience.FAILURE_THRESHOLD


async def test_refusals_do_not_open_the_breaker(fake_gemini, settings):
    settings.INTERVIEW_LLM_RETRIES = 0
    fake_gemini.fail(400, times=resilience.FAILURE_THRESHOLD + 1)
    engine = LLMEngine(MODEL)
    for _ in range(resilience.FAILURE_THRESHOLD + 1):
        with pytest.raises(EngineError) as info:
            await collect(engine.stream_turn(make_ctx(), {NEW_QUESTION}))
        assert info.value.kind == "invalid"
    fake_gemini.script(TURN)
    items = await collect(engine.stream_turn(make_ctx(), {NEW_QUESTION}))
    assert "What does an SLO mean to you?" in "".join(i for i in items if isinstance(i, str))
