"""Try this question again: in practice mode after the feedback, and from the
report ("Practise this question"); both attempts kept, scored and reported."""

import json

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse

from interviews import report as reports
from interviews import turns
from interviews.context import answered_questions, build_context
from interviews.engine.local import LocalEngine
from interviews.models import AnswerRejected, Feedback, Interview, Turn
from tests.factories import answered, ask, make_interview, ready_feedback
from tests.scripted_engine import ScriptedEngine

QUESTION = "Tell me about a project you led."


def practice_with_next_question(owner, **fields):
    """Practice interview: intro, a main question, its answer (feedback ready), and the next question, unanswered."""
    interview = make_interview(owner, **({"mode": Interview.Mode.PRACTICE} | fields))
    ask(interview, "Hello! First question: tell me about yourself.", Turn.Kind.INTRODUCTION)
    interview.accept_answer("I am a backend engineer.", 0)
    ask(interview, QUESTION)
    first = interview.accept_answer("We did a migration.", 2)
    ready_feedback(first, score=2)
    ask(interview, "Next question 3?")
    return interview, first


def try_again(client, interview, turn, htmx=True):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(reverse("try_again", args=[interview.id, turn.pk]), **headers)


def scores(value):
    return {d: {"score": value, "evidence": "", "note": ""} for d in ("relevance", "structure", "specificity", "communication", "role_fit")}


# ----- practice mode, in the room -----


def test_it_offers_try_again_only_on_the_latest_answer_in_practice_mode(owner_client, owner):
    interview, first = practice_with_next_question(owner)
    ready_feedback(interview.turns.get(index=1))  # the earlier answer's feedback: no button there
    html = owner_client.get(reverse("interview_room", args=[interview.id])).content.decode()
    assert html.count("Try this question again") == 1
    assert reverse("try_again", args=[interview.id, first.pk]) in html


def test_the_question_is_asked_again_and_the_next_answer_is_a_second_attempt(owner_client, owner):
    interview, first = practice_with_next_question(owner)

    response = try_again(owner_client, interview, first)

    assert response.status_code == 204
    again = interview.last_turn()
    assert again.index == first.index + 1 and again.decision["action"] == Turn.RETRY
    assert QUESTION in again.text
    assert not interview.turns.filter(text="Next question 3?").exists()  # the unanswered next question is withdrawn
    assert interview.awaiting_answer()
    # Question 2 of 3 again: the withdrawn third question is asked after the attempt.
    assert interview.progress()["asked"] == 2 and interview.progress()["total"] == 3

    second = interview.accept_answer("I led the migration of 40 services and cut costs by 30%.", again.index)
    assert second.attempt_of_id == first.pk
    assert interview.main_questions_asked() == 2


def test_the_engines_see_only_the_latest_attempt_so_the_interview_carries_on_unchanged(owner):
    interview, first = practice_with_next_question(owner)
    again = interview.try_again(first.pk)
    interview.accept_answer("The better answer.", again.index)
    ctx = build_context(interview)
    assert [t.text for t in ctx.transcript][-2:] == [QUESTION, "The better answer."]
    assert ctx.main_questions_asked == 2 and ctx.follow_ups_on_current == 0


@pytest.mark.django_db(transaction=True)
async def test_the_pipeline_scores_both_attempts_and_moves_on(owner, monkeypatch):
    engine = ScriptedEngine()
    seen = []
    stream_turn = engine.stream_turn

    def recording(ctx, allowed):
        seen.append([t.text for t in ctx.transcript])
        return stream_turn(ctx, allowed)

    engine.stream_turn = recording
    monkeypatch.setattr(turns, "get_engine", lambda: engine)
    interview, first = await database_sync_to_async(practice_with_next_question)(owner)
    again = await database_sync_to_async(interview.try_again)(first.pk)
    second = await database_sync_to_async(interview.accept_answer)("The better answer.", again.index)

    await turns.after_answer(interview.id, second.id)

    assert ("coach", "The better answer.") in engine.calls  # the same coach path as every answer
    assert await Feedback.objects.filter(turn__in=[first, second], status=Feedback.Status.READY).acount() == 2
    assert seen[-1][-2:] == [QUESTION, "The better answer."]
    nxt = await database_sync_to_async(interview.last_turn)()
    assert nxt.index == second.index + 1 and nxt.kind == Turn.Kind.QUESTION
    assert nxt.text == "Question number 3 for Backend Engineer?"  # the third main question, as without the retry


def test_a_third_try_is_allowed_and_a_fourth_refused(owner):
    interview, first = practice_with_next_question(owner)
    for text in ("Second try.", "Third try."):
        again = interview.try_again(interview.turns.filter(speaker=Turn.Speaker.CANDIDATE).last().pk)
        answer = interview.accept_answer(text, again.index)
        assert answer.attempt_of_id == first.pk
    with pytest.raises(AnswerRejected, match="3 times"):
        interview.try_again(answer.pk)


def test_only_the_latest_answer_can_be_tried_again(owner_client, owner):
    interview, first = practice_with_next_question(owner)
    interview.accept_answer("An answer to question 3.", interview.last_turn().index)
    turns_before = interview.turns.count()
    response = try_again(owner_client, interview, first)
    assert response.status_code == 200 and "Only the latest answer" in response.content.decode()
    assert interview.turns.count() == turns_before
    assert try_again(owner_client, interview, first, htmx=False).status_code == 409


def test_try_again_waits_while_the_next_question_is_being_written(owner):
    interview, first = practice_with_next_question(owner)
    interview.turns.filter(text="Next question 3?").delete()
    assert interview.claim_generation()
    with pytest.raises(AnswerRejected, match="still speaking"):
        interview.try_again(first.pk)


def test_try_again_works_when_the_next_question_failed_to_come(owner):
    interview, first = practice_with_next_question(owner)
    interview.turns.filter(text="Next question 3?").delete()
    interview.release_generation("The interviewer model is busy. Please retry.")
    again = interview.try_again(first.pk)
    interview.refresh_from_db()
    assert again.index == first.index + 1 and interview.generation_error == ""
    assert interview.awaiting_answer()


# ----- realistic mode's rule -----


def test_realistic_mode_has_no_try_again_in_the_room_and_refuses_the_post(owner_client, owner):
    interview, first = practice_with_next_question(owner)
    Interview.objects.filter(pk=interview.pk).update(mode=Interview.Mode.REALISTIC)
    html = owner_client.get(reverse("interview_room", args=[interview.id])).content.decode()
    assert "Try this question again" not in html and "try-again" not in html

    response = try_again(owner_client, interview, first, htmx=False)

    assert response.status_code == 409 and "realistic" in response.content.decode()
    assert interview.last_turn().text == "Next question 3?"
    assert not Turn.objects.filter(decision__action=Turn.RETRY).exists()


def test_another_users_answer_is_not_found(owner_client, owner, other):
    mine, _ = practice_with_next_question(owner)
    theirs, their_answer = practice_with_next_question(other)
    assert try_again(owner_client, theirs, their_answer).status_code == 404
    assert try_again(owner_client, mine, their_answer).status_code == 404  # my interview, their turn
    theirs.end_early()
    url = reverse("practise_question", args=[mine.id, their_answer.pk])
    assert owner_client.post(url).status_code == 404
    assert owner_client.post(reverse("practise_question", args=[theirs.id, their_answer.pk])).status_code == 404
    assert owner.interviews.count() == 1 and not their_answer.retries.exists()


# ----- practise this question, from the report -----


def completed_realistic(owner):
    interview = make_interview(owner, mode=Interview.Mode.REALISTIC)
    ask(interview, "Hello! First question: tell me about yourself.", Turn.Kind.INTRODUCTION)
    interview.accept_answer("I am a backend engineer.", 0)
    ask(interview, f"Thanks. {QUESTION}")
    answer = interview.accept_answer("We did a migration.", 2)
    ready_feedback(answer, score=2)
    interview.end_early()
    return interview, answer


def test_practise_this_question_starts_an_owned_one_question_practice_interview(owner_client, owner):
    original, answer = completed_realistic(owner)

    response = owner_client.post(reverse("practise_question", args=[original.id, answer.pk]))

    practice = owner.interviews.exclude(pk=original.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("interview_room", args=[practice.id])
    assert practice.mode == Interview.Mode.PRACTICE and practice.question_count == 1
    assert practice.job_role == original.job_role and practice.job_description == original.job_description
    assert practice.focus == {"questions": [{"text": QUESTION, "from_turn": answer.pk}]}


def test_practise_this_question_is_refused_while_the_interview_runs(owner_client, owner):
    interview, first = practice_with_next_question(owner, mode=Interview.Mode.REALISTIC)
    response = owner_client.post(reverse("practise_question", args=[interview.id, first.pk]))
    assert response.status_code == 409 and owner.interviews.count() == 1


@pytest.mark.django_db(transaction=True)
async def test_the_local_engine_asks_the_practised_question_and_links_the_answer(owner, monkeypatch):
    monkeypatch.setattr(turns, "get_engine", LocalEngine)
    original, answer = await database_sync_to_async(completed_realistic)(owner)
    practice = await database_sync_to_async(original.practise_question)(answer)

    intro = await turns.run_interviewer_turn(practice.id)

    assert intro.kind == Turn.Kind.INTRODUCTION and QUESTION in intro.text
    attempt = await database_sync_to_async(practice.accept_answer)("I led the migration of 40 services.", intro.index)
    assert attempt.attempt_of_id == answer.pk
    nxt = await turns.run_interviewer_turn(practice.id)
    assert nxt.kind in (Turn.Kind.FOLLOW_UP, Turn.Kind.CLOSING)  # one question: no new main question
    assert await database_sync_to_async(practice.main_questions_asked)() == 1


def test_a_focus_naming_another_users_answer_links_nothing(owner, other):
    _, theirs = completed_realistic(other)
    interview = make_interview(owner, question_count=1, focus={"questions": [{"text": QUESTION, "from_turn": theirs.pk}]})
    ask(interview, f"Hello! {QUESTION}", Turn.Kind.INTRODUCTION)
    attempt = interview.accept_answer("My answer.", 0)
    assert attempt.attempt_of_id is None


# ----- the report and the exports -----


def retried_and_finished(owner, first_score=2, second_score=4):
    interview, first = practice_with_next_question(owner)
    Feedback.objects.filter(turn=first).update(scores=scores(first_score))
    again = interview.try_again(first.pk)
    second = interview.accept_answer("I led the migration of 40 services and cut costs by 30%.", again.index)
    Feedback.objects.create(turn=second, status=Feedback.Status.READY, scores=scores(second_score) | {"structure": {"score": first_score - 1}}, metrics={"words": 12})
    ready_feedback(interview.turns.get(index=1), score=4)
    interview.end_early()
    return interview, first, second


def test_the_report_scores_the_best_attempt_and_shows_the_change(owner_client, owner):
    interview, first, second = retried_and_finished(owner)
    reports.build(interview.pk)
    interview.refresh_from_db()

    items = reports.page_context(interview)["items"]
    assert len(items) == 2 and items[1]["answer"] == second
    assert QUESTION in items[1]["question"].text  # the question itself, not the re-ask
    changes = {c["key"]: c["shown"] for c in items[1]["changes"]}
    assert changes == {"relevance": "+2", "structure": "\u22121", "specificity": "+2", "communication": "+2", "role_fit": "+2"}
    # Best attempt: second (average 3.4) over first (2); the overall is of the best attempts only.
    assert [q.answer for q in answered_questions(interview)][1] == second.text
    assert interview.summary["dimensions"]["relevance"] == 4.0  # (4 + 4) / 2, the first attempt's 2 left out
    assert interview.summary["metrics"]["answers"] == 2

    html = owner_client.get(reverse("interview_report", args=[interview.id])).content.decode()
    assert "2 attempts" in html and "+2 Relevance" in html and "\u22121 Structure (STAR)" in html
    assert html.count("Practise this question") == 2
    assert "Try this question again" not in html


def test_a_worse_second_try_keeps_the_first_as_best(owner):
    interview, first, second = retried_and_finished(owner, first_score=4, second_score=2)
    item = reports.page_context(interview)["items"][1]
    assert item["answer"] == first and item["changes"][0]["shown"] == "\u22122"


def test_the_practice_report_compares_with_the_earlier_interviews_answer(owner):
    original, answer = completed_realistic(owner)
    practice = original.practise_question(answer)
    ask(practice, f"Hello! {QUESTION}", Turn.Kind.INTRODUCTION)
    attempt = practice.accept_answer("A better answer.", 0)
    Feedback.objects.create(turn=attempt, status=Feedback.Status.READY, scores=scores(3))
    item = reports.page_context(practice)["items"][0]
    assert [a["answer"] for a in item["attempts"]] == [answer, attempt]
    assert item["attempts"][0]["earlier"] and item["changes"][0]["shown"] == "+1"


def test_the_exports_carry_every_attempt(owner_client, owner):
    interview, first, second = retried_and_finished(owner)
    reports.build(interview.pk)

    markdown = owner_client.get(reverse("report_download", args=[interview.id, "md"])).content.decode()
    assert "Attempts: 2" in markdown and "We did a migration." in markdown and "cut costs by 30%" in markdown
    assert "Change, first to latest attempt: +2 Relevance" in markdown

    data = json.loads(owner_client.get(reverse("report_download", args=[interview.id, "json"])).content)
    by_id = {t["id"]: t for t in data["interview"]["turns"]}
    assert by_id[second.pk]["attempt_of"] == first.pk
    assert by_id[first.pk]["feedback"]["scores"]["relevance"]["score"] == 2
    assert by_id[second.pk]["feedback"]["scores"]["relevance"]["score"] == 4


# ----- deleting -----


def test_deleting_an_interview_deletes_its_attempts(owner_client, owner):
    interview, first, second = retried_and_finished(owner)
    owner_client.post(reverse("delete_interview", args=[interview.id]))
    assert not Turn.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert not Feedback.objects.filter(turn_id__in=[first.pk, second.pk]).exists()


def test_deleting_the_original_keeps_the_practice_interviews_answer(owner_client, owner):
    original, answer = completed_realistic(owner)
    practice = original.practise_question(answer)
    ask(practice, f"Hello! {QUESTION}", Turn.Kind.INTRODUCTION)
    attempt = practice.accept_answer("A better answer.", 0)

    owner_client.post(reverse("delete_interview", args=[original.id]))

    assert not Interview.objects.filter(pk=original.pk).exists()
    attempt.refresh_from_db()
    assert attempt.attempt_of_id is None and attempt.interview_id == practice.pk


def test_deleting_the_original_as_the_admin_does_keeps_the_practice_interviews_answer(owner):
    original, answer = completed_realistic(owner)
    practice = original.practise_question(answer)
    ask(practice, f"Hello! {QUESTION}", Turn.Kind.INTRODUCTION)
    attempt = practice.accept_answer("A better answer.", 0)

    Interview.objects.filter(pk=original.pk).delete()  # the admin's bulk delete: a plain cascade

    attempt.refresh_from_db()
    assert attempt.attempt_of_id is None and attempt.interview_id == practice.pk


def test_the_best_attempt_is_the_highest_average_and_the_later_on_a_tie(owner):
    interview, first, second = retried_and_finished(owner, first_score=3, second_score=3)
    Feedback.objects.filter(turn=second).update(scores=scores(3))
    attempts = [Turn.objects.select_related("feedback").get(pk=t.pk) for t in (first, second)]
    assert Turn.best_attempt(attempts) == second
    Feedback.objects.filter(turn=second).update(status=Feedback.Status.PENDING)
    attempts = [Turn.objects.select_related("feedback").get(pk=t.pk) for t in (first, second)]
    assert Turn.best_attempt(attempts) == first  # unscored counts lowest


def test_practising_later_leaves_the_earlier_report_as_it_was(owner):
    original, answer = completed_realistic(owner)
    reports.build(original.pk)
    original.refresh_from_db()
    summary = original.summary
    practice = original.practise_question(answer)
    ask(practice, f"Hello! {QUESTION}", Turn.Kind.INTRODUCTION)
    attempt = practice.accept_answer("A much better answer.", 0)
    Feedback.objects.create(turn=attempt, status=Feedback.Status.READY, scores=scores(5))
    original.refresh_from_db()
    assert original.summary == summary
    assert reports.page_context(original)["items"][1]["attempts"] == []
