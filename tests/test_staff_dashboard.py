"""/staff/: today's numbers for staff; a 404 for everyone else."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from interviews.models import Interview, Turn
from speech.models import SpeechTask
from tests.factories import answered, make_interview


def test_it_is_a_404_for_candidates_and_visitors(client, owner_client):
    assert owner_client.get("/staff/").status_code == 404
    client.logout()
    assert client.get("/staff/").status_code == 404


def test_it_shows_staff_todays_numbers(client, staff, owner):
    done = answered(owner, answers=["First answer.", "Second answer."])
    done.end_early()
    Interview.objects.filter(pk=done.pk).update(overall_score=70, llm_calls=4, tokens_in=100, tokens_out=50, llm_seconds=2.5)
    make_interview(owner)  # still active
    gone = make_interview(owner)
    gone.mark_abandoned()
    old = make_interview(owner, created_at=timezone.now() - timedelta(days=3))
    Turn.objects.create(interview=old, index=0, speaker="interviewer", kind="introduction", text="Old", model_ms=9999, created_at=old.created_at)
    for ms in range(10, 110, 10):  # ten interviewer turns today: 10..100 ms
        Turn.objects.create(interview=gone, index=ms, speaker="interviewer", kind="question", text="q", model_ms=ms)
    SpeechTask.objects.create(interview=done, kind="tts", status="completed")
    SpeechTask.objects.create(interview=done, kind="tts", status="error")
    client.force_login(staff)
    response = client.get("/staff/")
    assert response.status_code == 200
    c = response.context
    assert (c["started"], c["completed"], c["abandoned"], c["answers"]) == (3, 1, 1, 2)
    assert c["active"] == 2  # today's unfinished one, and the one from three days ago
    assert c["average_score"] == 70
    assert c["usage"]["calls"] == 4 and c["usage"]["tokens_in"] == 100
    assert (c["p50_ms"], c["p95_ms"], c["turns_measured"]) == (60, 100, 10)
    assert {(r["kind"], r["status"], r["n"]) for r in c["speech"]} == {("tts", "completed", 1), ("tts", "error", 1)}
    page = response.content.decode()
    assert "p50 60 ms" in page and reverse("admin:index") in page


def test_it_handles_a_quiet_day(client, staff):
    client.force_login(staff)
    response = client.get("/staff/")
    assert response.status_code == 200 and response.context["p50_ms"] is None
    assert "no turns yet" in response.content.decode()


def test_it_is_linked_from_the_admin_index(client, staff):
    client.force_login(staff)
    assert reverse("staff_dashboard") in client.get(reverse("admin:index")).content.decode()
