import json

import pytest
from django.urls import reverse

from interviews import report, turns
from interviews.models import Feedback, Interview, Turn
from tests.factories import answered, ready_feedback
from tests.scripted_engine import ScriptedEngine


@pytest.fixture
def engine(monkeypatch):
    engine = ScriptedEngine()
    monkeypatch.setattr(turns, "get_engine", lambda: engine)
    monkeypatch.setattr(report, "get_engine", lambda: engine)
    return engine


@pytest.fixture
def finished(owner):
    interview = answered(owner, answers=["I cut latency by 40% using Python.", "We shipped it in 3 weeks."])
    interview.add_interviewer_turn(Turn.Kind.CLOSING, "Thank you, that's all.")
    return Interview.objects.get(pk=interview.pk)


def test_it_builds_the_report_and_coaches_answers_that_had_no_feedback(finished, engine):
    answers = list(finished.turns.filter(speaker="candidate").order_by("index"))
    ready_feedback(answers[0], score=5)  # the second answer was never coached
    assert report.build(finished.id)
    finished.refresh_from_db()
    s = finished.summary
    assert finished.summary_status == "ready"
    assert Feedback.objects.get(turn=answers[1]).status == "ready"
    # 5 on every dimension for one answer, 4 for the other: 4.5 average → 88/100.
    assert s["dimensions"] == {d: 4.5 for d in ("relevance", "structure", "specificity", "communication", "role_fit")}
    assert s["overall"] == 88 and finished.overall_score == 88
    assert [a["average"] for a in s["per_answer"]] == [5.0, 4.0]
    assert s["patterns"] == "Scripted patterns." and s["focus_areas"][0]["area"] == "Outcomes"


def test_it_builds_a_report_only_once(finished, engine):
    assert report.build(finished.id)
    assert not report.build(finished.id)


def test_it_marks_the_report_failed_and_lets_the_candidate_retry(finished, engine, owner_client, monkeypatch):
    monkeypatch.setattr(report, "aggregate", lambda answered: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        report.build(finished.id)
    finished.refresh_from_db()
    assert finished.summary_status == "error"
    page = owner_client.get(reverse("interview_report", args=[finished.id])).content.decode()
    assert "could not be built" in page and "Try again" in page
    monkeypatch.undo()
    owner_client.post(reverse("rebuild_report", args=[finished.id]))
    finished.refresh_from_db()
    assert finished.summary_status == "pending"


def test_it_reports_an_interview_ended_before_any_answer(owner, engine):
    from tests.factories import ask, make_interview

    interview = make_interview(owner)
    ask(interview, "Hello?", Turn.Kind.INTRODUCTION)
    interview.end_early()
    assert report.build(interview.id)
    interview.refresh_from_db()
    assert interview.summary["overall"] is None
    assert "ended before" in interview.summary["patterns"]


def test_it_shows_the_finished_report(finished, engine, owner_client):
    report.build(finished.id)
    page = owner_client.get(reverse("interview_report", args=[finished.id])).content.decode()
    assert 'id="overall-score"' in page
    assert "<svg" in page and "Q2" in page
    assert "I cut latency by 40% using Python." in page
    assert "Outcomes" in page
    assert "Download Markdown" in page


def test_it_polls_while_the_report_builds_and_refreshes_when_ready(finished, engine, owner_client):
    url = reverse("report_status", args=[finished.id])
    response = owner_client.get(url)
    assert 'hx-trigger="every 2s"' in response.content.decode()
    report.build(finished.id)
    response = owner_client.get(url)
    assert response.status_code == 204 and response["HX-Refresh"] == "true"


def test_it_downloads_the_report_as_markdown_and_json(finished, engine, owner_client):
    report.build(finished.id)
    md = owner_client.get(reverse("report_download", args=[finished.id, "md"]))
    assert md["Content-Disposition"].startswith("attachment;")
    text = md.content.decode()
    assert text.startswith("# Interview report: Backend Engineer at Acme")
    assert "> I cut latency by 40% using Python." in text
    data = json.loads(owner_client.get(reverse("report_download", args=[finished.id, "json"])).content)
    assert data["report"]["overall"] == finished.__class__.objects.get(pk=finished.pk).overall_score
    assert [t["text"] for t in data["interview"]["turns"]][-1] == "Thank you, that's all."


def test_it_refuses_unknown_download_formats(finished, engine, owner_client):
    report.build(finished.id)
    assert owner_client.get(reverse("report_download", args=[finished.id, "exe"])).status_code == 404


def test_it_draws_one_bar_per_scored_answer_and_escapes_questions():
    svg = report.chart_svg(
        [{"number": 1, "question": "<b>bold</b>?", "average": 3.5}, {"number": 2, "question": "q", "average": None}]
    )
    assert svg.count("<rect") == 1
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_it_sends_the_candidate_to_the_room_while_the_interview_is_active(owner, owner_client):
    interview = answered(owner)
    response = owner_client.get(reverse("interview_report", args=[interview.id]))
    assert response.status_code == 302 and response["Location"] == reverse("interview_room", args=[interview.id])


def test_it_ends_the_interview_early_and_queues_the_report(owner, owner_client, monkeypatch):
    queued = []
    monkeypatch.setattr(turns, "enqueue_report", queued.append)
    interview = answered(owner)
    response = owner_client.post(reverse("end_interview", args=[interview.id]))
    assert response.status_code == 302
    interview.refresh_from_db()
    assert interview.status == "completed" and interview.summary_status == "pending"
    assert queued == [interview.id]
    owner_client.post(reverse("end_interview", args=[interview.id]))
    assert queued == [interview.id]  # a double click queues nothing more
