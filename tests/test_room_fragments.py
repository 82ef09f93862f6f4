"""The room's HTML fragments: what they say, and that they cost one query for
the turns however long the interview (they are rendered on every answer, every
turn and every socket connect)."""

import pytest
from django.test.utils import CaptureQueriesContext
from django.db import connection

from interviews import turns
from interviews.models import Interview, Turn
from tests.factories import answered, ask, ready_feedback

pytestmark = pytest.mark.django_db


def render(interview_id, **kw):
    interview = Interview.objects.get(pk=interview_id)
    with CaptureQueriesContext(connection) as queries:
        fragments = turns.room_fragments(interview, **kw)
    return fragments, len(queries)


def test_the_fragments_show_the_open_question_and_progress(owner):
    interview = answered(owner, answers=("First answer.", "Second answer."), question_count=4)
    question = ask(interview, "What would you do differently?")

    fragments, _ = render(interview.pk, turn=question, all_turns=True)

    assert "Question <strong>3</strong> of 4" in fragments["progress"]
    assert f'name="after_index" value="{question.index}"' in fragments["answer_area"]
    assert f'data-turns="{question.index + 1}"' in fragments["answer_area"]
    assert "What would you do differently?" in fragments["turn"]
    assert [t["index"] for t in fragments["turns"]] == list(range(question.index + 1))


def test_the_fragments_say_the_interviewer_is_thinking_after_an_answer(owner):
    interview = answered(owner)
    fragments, _ = render(interview.pk)
    assert "The interviewer is thinking" in fragments["answer_area"]
    assert "after_index" not in fragments["answer_area"]


def test_the_fragments_cost_the_same_queries_for_a_long_interview_as_a_short_one(owner):
    short = answered(owner, answers=("One.",))
    ask(short, "Next?")
    long = answered(owner, answers=[f"Answer {i}." for i in range(12)], question_count=15)
    ask(long, "Next?")
    for turn in Turn.objects.filter(interview=long, speaker=Turn.Speaker.CANDIDATE):
        ready_feedback(turn)

    _, few = render(short.pk, all_turns=True, turn=short.last_turn())
    _, many = render(long.pk, all_turns=True, turn=long.last_turn())

    assert many == few
    assert many <= 2
