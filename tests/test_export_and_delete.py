import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.export import export_user_data, interview_as_dict
from accounts.models import Profile
from interviews.models import Feedback, Interview, Turn
from tests.media_and_sockets import interview_with_files

User = get_user_model()


def make_interview(user, marker):
    """An interview with a question, an answer with feedback, and a closing."""
    interview = Interview.objects.create(
        owner=user,
        job_role=f"{marker} engineer",
        company=f"{marker} Ltd",
        job_description=f"{marker} job description",
        resume=f"{marker} résumé",
        style="technical",
        difficulty="hard",
        mode="practice",
        status="completed",
        completed_at=timezone.now(),
        summary={"headline": f"{marker} summary"},
        overall_score=72,
        llm_name="local",
        tokens_in=100,
        tokens_out=50,
        llm_calls=3,
    )
    Turn.objects.create(
        interview=interview, index=0, speaker="interviewer", kind="introduction", text=f"{marker} question?", model_ms=120
    )
    answer = Turn.objects.create(
        interview=interview,
        index=1,
        speaker="candidate",
        kind="answer",
        text=f"{marker} answer",
        source="typed",
        response_seconds=42.5,
    )
    Feedback.objects.create(
        turn=answer,
        status="ready",
        scores={"relevance": {"score": 4, "evidence": f"{marker} quote", "note": "good"}},
        metrics={"words": 3},
        strengths=[f"{marker} strength"],
        improvements=[f"{marker} improvement"],
        text=f"{marker} feedback",
        source="local",
    )
    Turn.objects.create(interview=interview, index=2, speaker="interviewer", kind="closing", text="Thanks!")
    return interview


# ----- export -----


def test_it_downloads_the_users_data_as_a_dated_json_attachment(owner_client, owner):
    make_interview(owner, "MINE")

    response = owner_client.get(reverse("export_data"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="interviewer-export-{today}.json"'
    data = json.loads(response.content)
    assert data["account"]["email"] == "owner@example.com"
    assert data["account"]["date_joined"] == owner.date_joined.isoformat()
    assert data["profile"] == {"default_resume": "", "preferred_style": "formal", "preferred_difficulty": "medium"}


def test_it_exports_every_interview_with_turns_and_feedback(owner_client, owner):
    Profile.objects.create(user=owner, default_resume="MY CV", preferred_style="casual")
    interview = make_interview(owner, "MINE")

    data = json.loads(owner_client.get(reverse("export_data")).content)

    assert data["profile"]["default_resume"] == "MY CV"
    (exported,) = data["interviews"]
    assert exported["id"] == str(interview.id)
    for key, value in {
        "job_role": "MINE engineer",
        "company": "MINE Ltd",
        "job_description": "MINE job description",
        "resume": "MINE résumé",
        "style": "technical",
        "difficulty": "hard",
        "length_mode": "questions",
        "question_count": 5,
        "mode": "practice",
        "status": "completed",
        "summary": {"headline": "MINE summary"},
        "overall_score": 72,
    }.items():
        assert exported[key] == value, key
    assert exported["created_at"] and exported["completed_at"]
    assert exported["usage"]["tokens_in"] == 100 and exported["usage"]["llm_calls"] == 3
    assert [(t["index"], t["speaker"], t["kind"]) for t in exported["turns"]] == [
        (0, "interviewer", "introduction"),
        (1, "candidate", "answer"),
        (2, "interviewer", "closing"),
    ]
    question, answer, _ = exported["turns"]
    assert question["feedback"] is None and question["model_ms"] == 120
    assert answer["text"] == "MINE answer" and answer["source"] == "typed" and answer["response_seconds"] == 42.5
    feedback = answer["feedback"]
    assert feedback["scores"]["relevance"]["score"] == 4
    assert feedback["average_score"] == 4
    assert feedback["metrics"] == {"words": 3}
    assert feedback["strengths"] == ["MINE strength"]
    assert feedback["improvements"] == ["MINE improvement"]
    assert feedback["text"] == "MINE feedback"


def test_it_never_exports_another_users_data(owner_client, owner, other):
    make_interview(owner, "MINE")
    make_interview(other, "OTHERS-SECRET")
    Profile.objects.create(user=other, default_resume="OTHERS-SECRET cv")

    response = owner_client.get(reverse("export_data"))

    body = response.content.decode()
    assert "MINE answer" in body
    assert "OTHERS-SECRET" not in body
    assert "other@example.com" not in body
    assert len(json.loads(body)["interviews"]) == 1


def test_it_serialises_one_interview_for_reuse(owner):
    interview = make_interview(owner, "MINE")

    data = interview_as_dict(interview)

    assert data == export_user_data(owner)["interviews"][0]
    json.dumps(data)  # plain JSON, no encoder needed


def test_it_refuses_to_export_by_post(owner_client):
    assert owner_client.post(reverse("export_data")).status_code == 405


# ----- delete -----


def test_it_explains_what_deleting_the_account_removes(owner_client, owner):
    make_interview(owner, "MINE")

    response = owner_client.get(reverse("delete_account"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "owner@example.com" in html
    assert "your 1 interview," in html
    assert "cannot be undone" in html
    assert 'name="confirm"' in html


def test_it_deletes_nothing_without_the_right_confirmation(owner_client, owner):
    make_interview(owner, "MINE")

    for typed in ["", "other@example.com", "owner@example"]:
        response = owner_client.post(reverse("delete_account"), {"confirm": typed})
        assert response.status_code == 200
        assert response.context["form"].errors["confirm"]

    assert "Nothing was deleted" in response.content.decode()
    assert User.objects.filter(pk=owner.pk).exists()
    assert Interview.objects.filter(owner=owner).count() == 1
    assert Turn.objects.filter(interview__owner=owner).count() == 3
    assert Feedback.objects.filter(turn__interview__owner=owner).count() == 1
    assert owner_client.session["_auth_user_id"] == str(owner.pk)


def test_it_deletes_the_account_and_everything_of_theirs_only(owner_client, owner, other):
    make_interview(owner, "MINE")
    make_interview(owner, "MINE-TOO")
    Profile.objects.create(user=owner)
    theirs = make_interview(other, "THEIRS")
    Profile.objects.create(user=other)

    response = owner_client.post(reverse("delete_account"), {"confirm": "  Owner@Example.com "})

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Your account and all your interviews have been deleted."
    ]
    assert not User.objects.filter(pk=owner.pk).exists()
    assert not Profile.objects.filter(user_id=owner.pk).exists()
    assert not Interview.objects.filter(owner_id=owner.pk).exists()
    assert Turn.objects.exclude(interview=theirs).count() == 0
    assert Feedback.objects.exclude(turn__interview=theirs).count() == 0
    # the other candidate keeps everything
    assert User.objects.filter(pk=other.pk).exists()
    assert Profile.objects.filter(user=other).exists()
    assert Turn.objects.filter(interview=theirs).count() == 3
    assert Feedback.objects.filter(turn__interview=theirs).count() == 1
    # and the deleted user is logged out
    assert "_auth_user_id" not in owner_client.session
    assert owner_client.get(reverse("profile")).status_code == 302


def media_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_it_deletes_the_accounts_files_and_keeps_everyone_elses(
    owner_client, owner, other, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    for marker in ("MINE", "MINE-TOO"):
        interview_with_files(owner, marker, monkeypatch)
    theirs, _ = interview_with_files(other, "THEIRS", monkeypatch)
    their_files = [name for name in media_files(tmp_path) if "THEIRS" in name or str(theirs.id) in name]
    assert len(their_files) == 4 and len(media_files(tmp_path)) == 12

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("delete_account"), {"confirm": "owner@example.com"})

    assert not User.objects.filter(pk=owner.pk).exists()
    assert media_files(tmp_path) == their_files
    # no empty folders left behind either, but the top ones stay
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers", "tts", "uploads"]
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == [str(theirs.id)]


def test_it_deletes_an_interviews_files_and_keeps_the_others(
    owner_client, owner, other, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    doomed, doomed_files = interview_with_files(owner, "DOOMED", monkeypatch)
    interview_with_files(owner, "KEPT", monkeypatch)
    interview_with_files(other, "THEIRS", monkeypatch)
    before = media_files(tmp_path)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("delete_interview", args=[doomed.id]))

    assert response.status_code == 302
    gone = sorted(path.relative_to(tmp_path).as_posix() for path in doomed_files)
    assert media_files(tmp_path) == [name for name in before if name not in gone]
    assert not (tmp_path / "uploads" / str(doomed.id)).exists() and not (tmp_path / "tts" / str(doomed.id)).exists()


def test_it_keeps_the_files_of_a_deletion_that_rolled_back(owner, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = str(tmp_path)
    interview, files = interview_with_files(owner, "MINE", monkeypatch)
    pk = interview.pk

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            Interview.delete_files_on_commit(Interview.objects.filter(pk=interview.pk))
            interview.delete()
            raise RuntimeError("the delete fails")

    assert Interview.objects.filter(pk=pk).exists()
    assert all(path.exists() for path in files)


def test_it_deletes_even_when_the_channel_layer_is_down(owner_client, owner, monkeypatch, django_capture_on_commit_callbacks, caplog):
    def unreachable():
        raise ConnectionError("channel layer unreachable")

    monkeypatch.setattr("interviews.sockets.get_channel_layer", unreachable)
    interview = make_interview(owner, "MINE")

    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.post(reverse("delete_interview", args=[interview.id])).status_code == 302
        assert owner_client.post(reverse("delete_account"), {"confirm": "owner@example.com"}).status_code == 302

    assert not User.objects.filter(pk=owner.pk).exists()
    assert "could not close the sockets" in caplog.text


def test_it_enforces_csrf_on_delete(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    refused = client.post(reverse("delete_account"), {"confirm": "owner@example.com"})

    assert refused.status_code == 403
    assert User.objects.filter(pk=owner.pk).exists()

    page = client.get(reverse("delete_account")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    accepted = client.post(reverse("delete_account"), {"confirm": "owner@example.com", "csrfmiddlewaretoken": token})

    assert accepted.status_code == 302
    assert not User.objects.filter(pk=owner.pk).exists()


def test_it_refuses_other_methods_on_delete(owner_client, owner):
    assert owner_client.put(reverse("delete_account")).status_code == 405
    assert owner_client.delete(reverse("delete_account")).status_code == 405
    assert User.objects.filter(pk=owner.pk).exists()


# ----- outsiders -----


@pytest.mark.parametrize(
    "name, method",
    [("export_data", "get"), ("delete_account", "get"), ("delete_account", "post")],
)
def test_it_redirects_anonymous_users_to_login(client, owner, name, method):
    url = reverse(name)

    response = getattr(client, method)(url, {"confirm": "owner@example.com"} if method == "post" else None)

    assert response.status_code == 302
    assert response.url == f"{reverse('account_login')}?next={url}"
    assert User.objects.filter(pk=owner.pk).exists()


def test_it_lets_staff_export_a_users_data_from_the_admin(client, staff, owner, other):
    make_interview(owner, "MINE")
    make_interview(other, "THEIRS")
    client.force_login(staff)

    response = client.post(
        reverse("admin:auth_user_changelist"), {"action": "export_users", "_selected_action": [owner.pk]}
    )

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    (exported,) = json.loads(response.content)
    assert exported["account"]["email"] == "owner@example.com"
    assert "THEIRS" not in response.content.decode()
