"""The interviewer's turn and the coach, run the way the web process runs them."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from interviews import turns
from interviews.models import Feedback, Interview, Turn
from tests.factories import make_interview
from tests.scripted_engine import ScriptedEngine

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def engine(monkeypatch):
    engine = ScriptedEngine()
    monkeypatch.setattr(turns, "get_engine", lambda: engine)
    return engine


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(turns, "enqueue_report", calls.append)
    return calls


async def listen(interview_id):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(turns.group_name(interview_id), channel)
    return layer, channel


async def drain(layer, channel):
    events = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=0.2)
        except asyncio.TimeoutError:
            return events
        events.append(message["payload"])


async def test_it_writes_and_streams_the_introduction(owner, engine):
    interview = await database_sync_to_async(make_interview)(owner)
    layer, channel = await listen(interview.id)
    turn = await turns.run_interviewer_turn(interview.id)
    assert turn.kind == Turn.Kind.INTRODUCTION
    assert turn.text == "Question number 1 for Backend Engineer?"
    events = await drain(layer, channel)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "turn.started" and kinds[-1] == "turn.done"
    streamed = "".join(e["text"] for e in events if e["event"] == "turn.token")
    assert streamed == turn.text
    assert 'id="turn-0"' in events[-1]["turn"]
    await interview.arefresh_from_db()
    assert interview.llm_calls == 1 and interview.tokens_in == 10
    assert interview.generating_until is None


async def test_it_writes_one_turn_however_many_tabs_ask(owner, engine):
    interview = await database_sync_to_async(make_interview)(owner)
    engine.delay = 0.01
    results = await asyncio.gather(*[turns.run_interviewer_turn(interview.id) for _ in range(4)])
    assert sum(r is not None for r in results) == 1
    assert await Turn.objects.filter(interview=interview).acount() == 1


async def test_it_reports_a_model_failure_and_keeps_the_interview_retryable(owner, engine):
    interview = await database_sync_to_async(make_interview)(owner)
    engine.fail_with = "The interviewer model is busy (rate limited). Please retry in a moment."
    layer, channel = await listen(interview.id)
    assert await turns.run_interviewer_turn(interview.id) is None
    events = await drain(layer, channel)
    failed = [e for e in events if e["event"] == "turn.failed"]
    assert failed and "rate limited" in failed[0]["message"]
    assert "Retry" in failed[0]["answer_area"]
    await interview.arefresh_from_db()
    assert interview.generation_error.startswith("The interviewer model is busy")
    assert interview.generating_until is None
    assert await Turn.objects.filter(interview=interview).acount() == 0
    engine.fail_with = None
    assert (await turns.run_interviewer_turn(interview.id)).kind == Turn.Kind.INTRODUCTION


async def test_it_runs_a_whole_count_based_interview_and_queues_the_report(owner, engine, enqueued):
    interview = await database_sync_to_async(make_interview)(owner, question_count=3)
    await turns.run_interviewer_turn(interview.id)
    for n in range(3):
        last = await Turn.objects.filter(interview=interview).order_by("-index").afirst()
        answer = await database_sync_to_async(interview.accept_answer)(f"Answer {n} with 20% growth.", last.index)
        await turns.after_answer(interview.id, answer.id)
    await interview.arefresh_from_db()
    kinds = [t.kind async for t in Turn.objects.filter(interview=interview).order_by("index")]
    assert kinds == ["introduction", "answer", "question", "answer", "question", "answer", "closing"]
    assert interview.status == Interview.Status.COMPLETED
    assert enqueued == [interview.id]
    assert await Feedback.objects.filter(turn__interview=interview, status="ready").acount() == 3


async def test_the_coach_starts_after_the_next_questions_first_words(owner, engine):
    interview = await database_sync_to_async(make_interview)(owner)
    await turns.run_interviewer_turn(interview.id)
    answer = await database_sync_to_async(interview.accept_answer)("I shipped it in 3 weeks.", 0)
    engine.calls.clear()
    engine.delay = 0.02  # a slow model: the coach must still wait only for the first words
    layer, channel = await listen(interview.id)

    await turns.after_answer(interview.id, answer.id)

    assert [c[0] for c in engine.calls] == ["turn", "first words", "coach"]
    events = [e["event"] for e in await drain(layer, channel)]
    assert events.index("turn.token") < events.index("turn.done")
    assert await Feedback.objects.filter(turn=answer, status="ready").aexists()


async def test_the_coach_still_runs_when_the_next_question_fails(owner, engine):
    interview = await database_sync_to_async(make_interview)(owner)
    await turns.run_interviewer_turn(interview.id)
    answer = await database_sync_to_async(interview.accept_answer)("I shipped it in 3 weeks.", 0)
    engine.fail_with = "The interviewer model is busy."

    await turns.after_answer(interview.id, answer.id)

    feedback = await Feedback.objects.aget(turn=answer)
    assert feedback.status == "ready" and feedback.source == "local (model unavailable)"


async def test_it_pushes_feedback_in_practice_mode_only(owner, engine):
    for mode, expected in (("practice", 1), ("realistic", 0)):
        interview = await database_sync_to_async(make_interview)(owner, mode=mode)
        await turns.run_interviewer_turn(interview.id)
        answer = await database_sync_to_async(interview.accept_answer)("I did it myself.", 0)
        layer, channel = await listen(interview.id)
        await turns.run_coach(answer.id)
        events = [e for e in await drain(layer, channel) if e["event"] == "feedback.ready"]
        assert len(events) == expected
        feedback = await Feedback.objects.aget(turn=answer)
        assert feedback.status == "ready" and feedback.scores["relevance"]["score"] == 4
        assert feedback.metrics["words"] == 4


async def test_it_falls_back_to_the_local_coach_when_the_model_fails(owner, engine):
    interview = await database_sync_to_async(make_interview)(owner)
    await turns.run_interviewer_turn(interview.id)
    answer = await database_sync_to_async(interview.accept_answer)("I led the team and we shipped in 3 weeks.", 0)
    engine.fail_with = "model down"
    await turns.run_coach(answer.id)
    feedback = await Feedback.objects.aget(turn=answer)
    assert feedback.status == "ready"
    assert feedback.source == "local (model unavailable)"
    assert set(feedback.scores) == {"relevance", "structure", "specificity", "communication", "role_fit"}
