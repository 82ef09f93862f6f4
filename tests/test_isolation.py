"""No one but the owner can see or change an interview: outsiders get 404."""

import pytest
from django.test import Client
from django.urls import reverse

from interviews.models import Interview, Turn
from tests.factories import answered

GETS = ["interview_room", "interview_report", "report_status"]
POSTS = ["submit_answer", "retry_turn", "end_interview", "delete_interview", "rebuild_report"]


@pytest.fixture
def interview(owner):
    interview = answered(owner, answers=["SECRET-MARKER answer"])
    interview.add_interviewer_turn(Turn.Kind.QUESTION, "SECRET-MARKER question?")
    return interview


@pytest.fixture
def outsider(other):
    client = Client()
    client.force_login(other)
    return client


@pytest.mark.parametrize("name", GETS)
def test_it_hides_every_page_from_other_users(outsider, interview, name):
    response = outsider.get(reverse(name, args=[interview.id]))
    assert response.status_code == 404
    assert b"SECRET-MARKER" not in response.content


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_it_hides_report_downloads_from_other_users(outsider, interview, fmt):
    Interview.objects.filter(pk=interview.pk).update(status="completed", summary_status="ready", summary={"overall": 50})
    response = outsider.get(reverse("report_download", args=[interview.id, fmt]))
    assert response.status_code == 404


@pytest.mark.parametrize("name", POSTS)
def test_it_refuses_every_change_from_other_users(outsider, interview, name):
    before = list(interview.turns.values_list("index", "text"))
    response = outsider.post(reverse(name, args=[interview.id]), {"answer": "hijack", "after_index": 2})
    assert response.status_code == 404
    interview.refresh_from_db()
    assert interview.status == "active"
    assert list(interview.turns.values_list("index", "text")) == before


@pytest.mark.parametrize("name", GETS + POSTS)
def test_it_sends_anonymous_visitors_to_log_in(client, interview, name):
    response = client.post(reverse(name, args=[interview.id])) if name in POSTS else client.get(reverse(name, args=[interview.id]))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_it_lists_only_the_users_own_interviews(outsider, interview):
    response = outsider.get(reverse("dashboard"))
    assert response.status_code == 200
    assert interview.job_role.encode() not in response.content
    assert not response.context["interviews"]
