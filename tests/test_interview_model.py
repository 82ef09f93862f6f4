import threading

import pytest
from django.db import connection

from interviews.models import AnswerRejected, Interview, Turn
from tests.factories import answered, ask, make_interview


@pytest.mark.django_db
def test_it_accepts_an_answer_to_the_open_question(owner):
    interview = make_interview(owner)
    question = ask(interview)
    turn = interview.accept_answer("  My answer.  ", question.index)
    assert turn.index == question.index + 1
    assert turn.text == "My answer."
    assert turn.speaker == Turn.Speaker.CANDIDATE
    interview.refresh_from_db()
    assert interview.awaiting_interviewer()


@pytest.mark.django_db
def test_it_rejects_a_second_answer_to_the_same_question(owner):
    interview = make_interview(owner)
    question = ask(interview)
    interview.accept_answer("First.", question.index)
    with pytest.raises(AnswerRejected, match="already been answered"):
        interview.accept_answer("Second.", question.index)
    assert interview.turns.filter(speaker=Turn.Speaker.CANDIDATE).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["", "   ", "x" * 10_001])
def test_it_rejects_empty_or_overlong_answers(owner, text):
    interview = make_interview(owner)
    question = ask(interview)
    with pytest.raises(AnswerRejected):
        interview.accept_answer(text, question.index)
    assert interview.turns.count() == 1


@pytest.mark.django_db
def test_it_rejects_answers_after_the_interview_ended(owner):
    interview = make_interview(owner)
    question = ask(interview)
    assert interview.end_early()
    with pytest.raises(AnswerRejected, match="ended"):
        interview.accept_answer("Too late.", question.index)


@pytest.mark.django_db(transaction=True)
def test_it_keeps_exactly_one_of_two_simultaneous_answers(owner):
    interview = make_interview(owner)
    question = ask(interview)
    barrier = threading.Barrier(2)
    outcomes = []

    def submit(text):
        barrier.wait()
        try:
            outcomes.append(interview.accept_answer(text, question.index).text)
        except AnswerRejected as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(f"Answer from tab {i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answers = list(interview.turns.filter(speaker=Turn.Speaker.CANDIDATE))
    assert len(answers) == 1
    assert sorted(outcomes) == sorted([answers[0].text, "This question has already been answered."])


@pytest.mark.django_db
def test_it_closes_the_interview_with_a_closing_turn(owner):
    interview = answered(owner)
    interview.add_interviewer_turn(Turn.Kind.CLOSING, "Thanks, that's all.")
    interview.refresh_from_db()
    assert interview.status == Interview.Status.COMPLETED
    assert interview.summary_status == Interview.SummaryStatus.PENDING
    assert not interview.awaiting_answer()


@pytest.mark.django_db
def test_it_gives_the_generation_lease_to_one_claimant_at_a_time(owner):
    interview = make_interview(owner)
    assert interview.claim_generation()
    assert not Interview.objects.get(pk=interview.pk).claim_generation()
    interview.release_generation()
    assert interview.claim_generation()


@pytest.mark.django_db
def test_it_counts_time_only_while_a_question_is_open(owner):
    interview = make_interview(owner, length_mode="minutes", duration_minutes=10)
    question = ask(interview)
    Turn.objects.filter(pk=question.pk).update(created_at=question.created_at.replace(year=question.created_at.year - 1))
    interview.accept_answer("An answer after a long break.", question.index)
    interview.refresh_from_db()
    # A year-long break costs at most the per-question cap, not the whole clock.
    assert interview.elapsed_seconds == 600
    assert interview.progress()["phase"] == "closing"


@pytest.mark.django_db
def test_it_reports_question_progress_in_count_mode(owner):
    interview = answered(owner, answers=["one", "two"], question_count=4)
    progress = interview.progress()
    assert progress == {"asked": 2, "time_based": False, "total": 4, "percent": 50}
