"""What one answer costs the database: the answer POST and the turn and coach
that follow it. The counts are pinned, and must not grow with the transcript."""

import threading

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.db.backends import utils
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from interviews import turns
from interviews.models import Feedback, Turn
from tests.factories import ask, make_interview
from tests.scripted_engine import ScriptedEngine

# The answer POST: session, user (twice: lib.logging reads request.user in a thread), interview,
# the answer's transaction (savepoint, question, interview, insert, clock update,
# release), then the fragments (interview, the turns' state, the new turn).
POST_QUERIES = 13
# What follows on the web process. The interviewer's turn: interview, last turn,
# claim, last turn, context; one transaction (interview, turn written under a
# row lock, usage); the saved turn's fragments. The coach: answer, question,
# its pending feedback, context, the feedback saved, usage.
AFTER_ANSWER_QUERIES = 27
# The engines read every turn (interviews/context.py builds their view of the
# interview): one read for the interviewer's turn, one for the coach.
ENGINE_CONTEXT_READS = 2


def interview_with_answers(owner, answers):
    """An interview awaiting the answer to its last question, after `answers` answered ones."""
    interview = make_interview(owner, question_count=answers + 2)
    ask(interview, "Hello! First question: tell me about yourself.", Turn.Kind.INTRODUCTION)
    for i in range(answers):
        interview.accept_answer(f"Answer {i}: I led the migration and cut costs by 30%.", interview.last_turn().index)
        ask(interview, f"Next question {i + 2}?")
    return interview


class QueryRecorder:
    """Every SQL statement any thread runs while it is installed: the turn
    pipeline reaches the database from a thread pool, where a connection's
    own CaptureQueriesContext would not see it."""

    def __init__(self, monkeypatch):
        self.statements = []
        lock = threading.Lock()
        original = utils.CursorWrapper._execute

        def execute(cursor, sql, params, *ignored):
            # SQLite's transaction mode IMMEDIATE sends its own BEGIN; PostgreSQL's
            # driver does not: count the same statements on both.
            if sql != "BEGIN IMMEDIATE":
                with lock:
                    self.statements.append(sql)
            return original(cursor, sql, params, *ignored)

        monkeypatch.setattr(utils.CursorWrapper, "_execute", execute)


def whole_transcript_reads(statements):
    """SELECTs of turns' texts that are not limited to one turn."""
    return [
        sql
        for sql in statements
        if sql.startswith("SELECT") and '"interviews_turn"."text"' in sql and ' FROM "interviews_turn"' in sql
        and "LIMIT" not in sql and '"interviews_turn"."id" =' not in sql
    ]


def post_answer(client, interview):
    last = interview.last_turn()
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            reverse("submit_answer", args=[interview.id]),
            {"answer": "I owned the rollout and measured the result.", "after_index": last.index},
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 200 and "I owned the rollout" in response.content.decode()
    return [q["sql"] for q in queries.captured_queries]


@pytest.mark.django_db
def test_the_answer_post_makes_the_same_few_queries_for_a_short_and_a_long_interview(owner, owner_client):
    short = post_answer(owner_client, interview_with_answers(owner, 1))
    long = post_answer(owner_client, interview_with_answers(owner, 10))
    assert len(short) == len(long) == POST_QUERIES
    assert whole_transcript_reads(long) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("answers", [1, 10])
async def test_the_turn_and_coach_after_an_answer_make_a_fixed_number_of_queries(owner, monkeypatch, answers):
    engine = ScriptedEngine()
    monkeypatch.setattr(turns, "get_engine", lambda: engine)
    interview = await database_sync_to_async(interview_with_answers)(owner, answers)
    answer = await database_sync_to_async(interview.accept_answer)("I owned the rollout.", 2 * answers)
    recorder = QueryRecorder(monkeypatch)
    await turns.after_answer(interview.id, answer.id)
    monkeypatch.undo()
    assert await Feedback.objects.filter(turn=answer, status=Feedback.Status.READY).aexists()
    assert await Turn.objects.filter(interview=interview).acount() == 2 * answers + 3
    assert len(recorder.statements) == AFTER_ANSWER_QUERIES
    assert len(whole_transcript_reads(recorder.statements)) == ENGINE_CONTEXT_READS
