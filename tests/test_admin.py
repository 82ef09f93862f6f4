import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from interviews.models import Interview
from tests.factories import answered, ready_feedback
from tests.media_and_sockets import SocketCloses, interview_with_files


def test_it_shows_staff_the_transcript_with_usage(client, staff, owner):
    interview = answered(owner, answers=["Staff-visible answer."])
    client.force_login(staff)
    changelist = client.get(reverse("admin:interviews_interview_changelist"), {"q": "owner@example.com"})
    assert changelist.status_code == 200 and "Backend Engineer" in changelist.content.decode()
    page = client.get(reverse("admin:interviews_interview_change", args=[interview.id])).content.decode()
    assert "Staff-visible answer." in page
    assert "Tokens in" in page or "tokens in" in page.lower()


def test_it_filters_interviews_by_status(client, staff, owner):
    answered(owner)
    client.force_login(staff)
    response = client.get(reverse("admin:interviews_interview_changelist"), {"status__exact": "completed"})
    assert response.context["cl"].result_count == 0


def test_it_marks_interviews_abandoned_and_exports_them(client, staff, owner):
    interview = answered(owner, answers=["Exported answer."])
    ready_feedback(interview.turns.get(index=1))
    client.force_login(staff)
    url = reverse("admin:interviews_interview_changelist")
    client.post(url, {"action": "mark_abandoned", "_selected_action": [interview.pk]})
    assert Interview.objects.get(pk=interview.pk).status == "abandoned"
    response = client.post(url, {"action": "export_json", "_selected_action": [interview.pk]})
    data = json.loads(response.content)
    assert data[0]["turns"][1]["text"] == "Exported answer."
    assert data[0]["turns"][1]["feedback"]["scores"]["relevance"]["score"] == 4


def test_it_keeps_candidates_out_of_the_admin(owner_client):
    response = owner_client.get(reverse("admin:interviews_interview_changelist"))
    assert response.status_code == 302


@pytest.mark.parametrize("how", ["delete page", "bulk action"])
@pytest.mark.parametrize("what", ["interview", "account"])
def test_it_deletes_the_files_of_what_staff_delete(client, staff, owner, other, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks, what, how):
    settings.MEDIA_ROOT = str(tmp_path)
    doomed, doomed_files = interview_with_files(owner, "DOOMED", monkeypatch)
    _, their_files = interview_with_files(other, "THEIRS", monkeypatch)
    closes = SocketCloses(owner.pk)
    model, pk = ("interviews_interview", doomed.pk) if what == "interview" else ("auth_user", owner.pk)
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        if how == "delete page":
            client.post(reverse(f"admin:{model}_delete", args=[pk]), {"post": "yes"})
        else:
            client.post(reverse(f"admin:{model}_changelist"), {"action": "delete_selected", "_selected_action": [pk], "post": "yes"})
    assert not Interview.objects.filter(pk=doomed.pk).exists()
    if what == "account":
        assert not get_user_model().objects.filter(pk=owner.pk).exists()
    assert not any(path.exists() for path in doomed_files)
    assert all(path.exists() for path in their_files)
    closed = str(doomed.pk) if what == "interview" else None
    assert closes.next() == {"type": "sockets.close", "interview": closed, "code": 4410}
