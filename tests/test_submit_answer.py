import asyncio

import pytest
from django.test import AsyncClient, Client
from django.urls import reverse

from interviews.models import Turn
from tests.factories import ask, make_interview


@pytest.fixture
def interview(owner):
    interview = make_interview(owner)
    ask(interview, "Why this role?", Turn.Kind.INTRODUCTION)
    return interview


def url(interview):
    return reverse("submit_answer", args=[interview.id])


def test_it_saves_the_answer_and_starts_the_next_turn(owner_client, interview, background_turns):
    response = owner_client.post(url(interview), {"answer": "Because I love APIs.", "after_index": 0}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    answer = interview.turns.get(index=1)
    assert answer.text == "Because I love APIs."
    assert answer.source == "typed"
    body = response.content.decode()
    assert 'id="turn-1"' in body and "Because I love APIs." in body
    assert "The interviewer is thinking" in body
    assert background_turns == ["after_answer"]


def test_it_keeps_the_draft_and_explains_when_the_answer_is_empty(owner_client, interview, background_turns):
    response = owner_client.post(url(interview), {"answer": "   ", "after_index": 0}, HTTP_HX_REQUEST="true")
    assert "Please write an answer" in response.content.decode()
    assert interview.turns.count() == 1
    assert background_turns == []


def test_it_keeps_the_draft_when_the_question_was_already_answered(owner_client, interview):
    owner_client.post(url(interview), {"answer": "First tab.", "after_index": 0}, HTTP_HX_REQUEST="true")
    response = owner_client.post(url(interview), {"answer": "Second tab draft.", "after_index": 0}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "already been answered" in body
    assert list(interview.turns.values_list("text", flat=True)) == ["Why this role?", "First tab."]


@pytest.mark.parametrize("after_index", ["", "abc", "-1", "99"])
def test_it_rejects_answers_to_questions_that_do_not_exist(owner_client, interview, after_index):
    response = owner_client.post(url(interview), {"answer": "Hi", "after_index": after_index}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "error-box" in response.content.decode()
    assert interview.turns.count() == 1


def test_it_enforces_csrf(owner, interview):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(url(interview), {"answer": "No token.", "after_index": 0})
    assert response.status_code == 403
    assert interview.turns.count() == 1


def test_it_only_accepts_post(owner_client, interview):
    assert owner_client.get(url(interview)).status_code == 405


@pytest.mark.django_db(transaction=True)
async def test_it_accepts_exactly_one_of_two_concurrent_submits(owner, interview):
    client = AsyncClient()
    await client.aforce_login(owner)
    responses = await asyncio.gather(
        *[client.post(url(interview), {"answer": f"Tab {i}", "after_index": 0}, headers={"HX-Request": "true"}) for i in range(2)]
    )
    assert all(r.status_code == 200 for r in responses)
    answers = [t async for t in Turn.objects.filter(interview=interview, speaker="candidate")]
    assert len(answers) == 1
    bodies = [r.content.decode() for r in responses]
    assert sum("already been answered" in b for b in bodies) == 1
