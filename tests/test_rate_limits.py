import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from lib.ratelimit import ahit, check_rate, parse_limit
from interviewer.routing import websocket_urlpatterns
from interviews.models import Interview, Turn
from speech.models import SpeechTask
from tests.factories import ask, make_interview
from tests.redis_server import redis_for_tests

BASE_DIR = Path(__file__).resolve().parent.parent


def answer_url(interview):
    return reverse("submit_answer", args=[interview.id])


@pytest.fixture
def interview(owner):
    interview = make_interview(owner)
    ask(interview, "Why this role?", Turn.Kind.INTRODUCTION)
    return interview


def client_for(user, ip="10.0.0.1"):
    client = Client(REMOTE_ADDR=ip)
    client.force_login(user)
    return client


def test_it_parses_limits():
    assert parse_limit("30/m") == (30, 60)
    assert parse_limit("5/10m") == (5, 600)
    assert parse_limit("100/d") == (100, 86400)
    with pytest.raises(ValueError):
        parse_limit("thirty a minute")


def test_it_counts_hits_in_a_window_and_says_how_long_to_wait(settings):
    assert [check_rate("k", "2/m") for _ in range(2)] == [None, None]
    wait = check_rate("k", "2/m")
    assert 1 <= wait <= 60
    assert check_rate("other-key", "2/m") is None
    assert check_rate("k", "") is None  # an empty limit never limits


def test_it_refuses_answers_over_the_limit_with_429_and_saves_nothing(owner, interview, settings):
    settings.RATE_LIMIT_ANSWERS = "2/m"
    client = client_for(owner)
    for _ in range(2):  # stale forms count too
        assert client.post(answer_url(interview), {"answer": "Hi", "after_index": 7}, HTTP_HX_REQUEST="true").status_code == 200
    response = client.post(answer_url(interview), {"answer": "Because.", "after_index": 0}, HTTP_HX_REQUEST="true")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.content.decode()
    assert body.startswith('<p class="error-box" role="alert">You') and "going a bit fast" in body
    assert f"try again in {response['Retry-After']} second" in body
    assert response["HX-Retarget"] == "#notices"
    assert interview.turns.count() == 1


def test_it_shows_a_page_for_ordinary_requests_over_the_limit(owner, interview, settings):
    settings.RATE_LIMIT_ANSWERS = "1/m"
    client = client_for(owner)
    client.post(answer_url(interview), {"answer": "Hi", "after_index": 7})
    response = client.post(answer_url(interview), {"answer": "Because.", "after_index": 0})
    assert response.status_code == 429 and response["Retry-After"]
    assert "going a bit fast" in response.content.decode() and "<html" in response.content.decode()
    assert [t.name for t in response.templates][:2] == ["429.html", "base.html"]
    assert interview.turns.count() == 1


def test_it_limits_each_user_separately(owner, other, interview, settings):
    settings.RATE_LIMIT_ANSWERS = "1/m"
    settings.RATE_LIMIT_ANSWERS_IP = ""
    theirs = make_interview(other)
    ask(theirs, "Why?", Turn.Kind.INTRODUCTION)
    mine = client_for(owner)
    mine.post(answer_url(interview), {"answer": "Hi", "after_index": 7}, HTTP_HX_REQUEST="true")
    assert mine.post(answer_url(interview), {"answer": "x", "after_index": 0}, HTTP_HX_REQUEST="true").status_code == 429
    # Same address, another user: unaffected.
    response = client_for(other).post(answer_url(theirs), {"answer": "Mine.", "after_index": 0}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and theirs.turns.count() == 2


def test_it_limits_each_client_address(owner, other, interview, settings):
    settings.RATE_LIMIT_ANSWERS = ""
    settings.RATE_LIMIT_ANSWERS_IP = "2/m"
    theirs = make_interview(other)
    ask(theirs, "Why?", Turn.Kind.INTRODUCTION)
    for _ in range(2):
        client_for(owner, "10.0.0.9").post(answer_url(interview), {"answer": "Hi", "after_index": 7}, HTTP_HX_REQUEST="true")
    blocked = client_for(other, "10.0.0.9").post(answer_url(theirs), {"answer": "Hi", "after_index": 0}, HTTP_HX_REQUEST="true")
    assert blocked.status_code == 429
    allowed = client_for(other, "10.0.0.10").post(answer_url(theirs), {"answer": "Hi", "after_index": 0}, HTTP_HX_REQUEST="true")
    assert allowed.status_code == 200 and theirs.turns.count() == 2


def test_it_counts_ipv6_clients_per_64(owner, interview, settings):
    settings.RATE_LIMIT_ANSWERS = ""
    settings.RATE_LIMIT_ANSWERS_IP = "1/m"
    client_for(owner, "2001:db8::1").post(answer_url(interview), {"answer": "Hi", "after_index": 7}, HTTP_HX_REQUEST="true")
    response = client_for(owner, "2001:db8::abcd").post(answer_url(interview), {"answer": "Hi", "after_index": 0}, HTTP_HX_REQUEST="true")
    assert response.status_code == 429


def test_it_can_be_turned_off(owner, interview, settings):
    settings.RATE_LIMITS_ENABLED = False
    settings.RATE_LIMIT_ANSWERS = "1/m"
    client = client_for(owner)
    for _ in range(3):
        assert client.post(answer_url(interview), {"answer": "Hi", "after_index": 7}, HTTP_HX_REQUEST="true").status_code == 200


def new_interview_form(**overrides):
    data = {
        "job_role": "Data Analyst",
        "style": "formal",
        "difficulty": "medium",
        "length_mode": "questions",
        "question_count": "4",
        "mode": "practice",
    }
    return {**data, **overrides}


def test_it_limits_interview_creation(owner, settings):
    settings.RATE_LIMIT_INTERVIEWS = "1/h"
    client = client_for(owner)
    assert client.post(reverse("new_interview"), new_interview_form()).status_code == 302
    response = client.post(reverse("new_interview"), new_interview_form(job_role="Second"))
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert "going a bit fast" in response.content.decode()
    assert list(Interview.objects.values_list("job_role", flat=True)) == ["Data Analyst"]
    # Only POSTs count: the form itself still opens.
    assert client.get(reverse("new_interview")).status_code == 200


def test_it_limits_retries(owner, interview, settings):
    settings.RATE_LIMIT_RETRIES = "1/m"
    Interview.objects.filter(pk=interview.pk).update(generation_error="The model failed.")
    client = client_for(owner)
    url = reverse("retry_turn", args=[interview.id])
    assert client.post(url, HTTP_HX_REQUEST="true").status_code == 200
    Interview.objects.filter(pk=interview.pk).update(generation_error="The model failed again.")
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 429 and response["Retry-After"]
    interview.refresh_from_db()
    assert interview.generation_error == "The model failed again."


def test_it_limits_uploads(owner, interview, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.RATE_LIMIT_UPLOADS = "1/h"
    client = client_for(owner)
    url = reverse("upload_answer_audio", args=[interview.id])
    assert "Choose an audio file" in client.post(url, HTTP_HX_REQUEST="true").content.decode()
    response = client.post(url, {"audio": SimpleUploadedFile("a.wav", b"RIFF....WAVE")}, HTTP_HX_REQUEST="true")
    assert response.status_code == 429 and response["Retry-After"]
    assert "going a bit fast" in response.content.decode()
    assert SpeechTask.objects.count() == 0
    assert not any(tmp_path.rglob("*.audio"))


def test_it_limits_staff_logins_per_account_through_allauth(staff):
    # /admin/login/ sends staff to allauth's login, whose per-account limit applies.
    response = Client().get(reverse("admin:login") + "?next=/admin/interviews/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    for ip in ("10.7.7.1", "10.7.7.2", "10.7.7.3", "10.7.7.4", "10.7.7.5"):  # a new address each time
        Client(REMOTE_ADDR=ip).post(response["Location"], {"login": staff.email, "password": "wrong"})
    client = Client(REMOTE_ADDR="10.7.7.6")
    refused = client.post(response["Location"], {"login": staff.email, "password": "correct-horse-9"})
    assert "Too many failed login attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session


def test_allauth_limits_failed_logins_per_account(owner, settings):
    assert settings.ACCOUNT_RATE_LIMITS["login_failed"]
    email = f"{uuid.uuid4().hex}@example.com"
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(email.split("@")[0], email, "correct-horse-9")
    client = Client(REMOTE_ADDR=f"10.8.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}")
    for _ in range(5):
        client.post(reverse("account_login"), {"login": email, "password": "wrong-password"})
    response = client.post(reverse("account_login"), {"login": email, "password": "correct-horse-9"})
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_allauth_limits_signups_per_address(db, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "signup": "2/m/ip"}
    client = Client(REMOTE_ADDR="10.9.9.9")
    for i in range(2):
        data = {"email": f"new{i}-{uuid.uuid4().hex[:6]}@example.com", "password1": "correct-horse-9!", "password2": "correct-horse-9!"}
        assert client.post(reverse("account_signup"), data).status_code == 302
        client.logout()
    data = {"email": "third@example.com", "password1": "correct-horse-9!", "password2": "correct-horse-9!"}
    response = client.post(reverse("account_signup"), data)
    assert response.status_code == 429
    assert "going a bit fast" in response.content.decode()  # our 429.html


# ----- the live-speech socket -----


class SilentTranscriber:
    """Stands in for the local model: the limit is decided before it runs."""

    async def start(self):
        pass

    async def events(self):
        if False:
            yield

    async def send_audio(self, data):
        pass

    async def finish(self):
        pass

    async def close(self):
        pass


def speech_socket(interview_id, user, ip="10.5.5.5"):
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/interviews/{interview_id}/speech/")
    comm.scope["user"] = user
    comm.scope["client"] = (ip, 50000)
    return comm


@pytest.mark.django_db(transaction=True)
async def test_it_limits_speech_socket_connects_and_closes_with_4429(owner, settings):
    settings.RATE_LIMIT_SPEECH_SOCKETS = "1/m"
    interview = await database_sync_to_async(make_interview)(owner)
    # The first connect of the minute (counted here, so the test needs no transcriber).
    assert await ahit("speech_sockets", owner.pk, "10.5.5.5") is None

    comm = speech_socket(interview.id, owner)
    connected, _ = await comm.connect()
    assert connected
    message = await comm.receive_json_from(timeout=5)
    assert message["event"] == "error" and "going a bit fast" in message["message"]
    assert (await comm.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4429}
    await comm.wait()


@pytest.mark.django_db(transaction=True)
async def test_it_lets_another_user_open_the_microphone(owner, other, settings, monkeypatch):
    monkeypatch.setattr("speech.providers.get_live_transcriber", lambda **kw: SilentTranscriber())
    settings.RATE_LIMIT_SPEECH_SOCKETS = "1/m"
    settings.RATE_LIMIT_SPEECH_SOCKETS_IP = ""
    await ahit("speech_sockets", owner.pk, "10.5.5.5")
    interview = await database_sync_to_async(make_interview)(other)
    comm = speech_socket(interview.id, other)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from(timeout=5))["event"] == "ready"
    await comm.disconnect()


# ----- shared between processes -----


@pytest.fixture(scope="module")
def redis_url():
    with redis_for_tests() as url:
        yield url


HAMMER = textwrap.dedent(
    """
    import sys, django
    django.setup()
    from lib.ratelimit import check_rate
    start = float(sys.argv[1])
    import time
    time.sleep(max(0, start - time.time()))
    allowed = sum(check_rate("shared-key", "25/d") is None for _ in range(40))
    print(allowed)
    """
)


def test_it_shares_one_limit_between_processes_through_redis(redis_url):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_FILE")}
    env.update(DJANGO_SETTINGS_MODULE="interviewer.settings", REDIS_URL=redis_url, RATE_LIMIT_PREFIX=uuid.uuid4().hex, RATE_LIMITS_ENABLED="true")
    start = time.time() + 2
    procs = [
        subprocess.Popen([sys.executable, "-c", HAMMER, str(start)], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0, err
    allowed = [int(out) for out, _ in results]
    # 80 hits from two processes at once against one limit of 25: exactly 25 pass.
    assert sum(allowed) == 25, allowed


# ----- the client address behind proxies -----


@pytest.mark.parametrize(
    "trusted, forwarded, expected",
    [
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.3", "198.51.100.1"),
        (2, "198.51.100.1", "198.51.100.1"),  # fewer hops than proxies: the farthest one
        (["10.0.0.0/8"], "6.6.6.6, 198.51.100.1:4711, 10.0.0.3", "198.51.100.1"),
        (["10.0.0.0/8"], "[2001:db8::1]:443", "2001:db8::/64"),
        (["10.0.0.0/8"], "garbage, 10.0.0.3", "10.0.0.3"),  # not an address: the last hop that was
        (["10.0.0.0/8"], "", "10.0.0.2"),
    ],
)
def test_it_takes_the_rightmost_untrusted_hop(settings, rf, trusted, forwarded, expected):
    from lib.ratelimit import client_ip

    settings.TRUSTED_PROXIES = trusted
    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)) == expected


def test_it_ignores_x_forwarded_for_without_a_trusted_proxy(settings, rf):
    from lib.ratelimit import client_ip

    settings.TRUSTED_PROXIES = 0
    request = rf.get("/", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert client_ip(request) == "198.51.100.1"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]  # a peer outside the proxies' networks is the client itself
    assert client_ip(request) == "198.51.100.1"
