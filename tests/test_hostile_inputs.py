"""Hostile input across forms, uploads and sockets: each gets a clear answer
(an error the candidate can act on, a 404, a close code) and changes nothing
that is stored."""

import asyncio
import io
import itertools
import json
import re
import secrets
import string
import time
import tracemalloc
import uuid
import zipfile
from pathlib import Path

from allauth.account.adapter import get_adapter
from allauth.core.internal import ratelimit as allauth_ratelimit
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.core.asgi import get_asgi_application
from django.core.checks import run_checks
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_started
from django.test import Client, RequestFactory
from django.urls import reverse
import pytest

from accounts.models import Profile
from lib.middleware import limit_request_body
from lib.ratelimit import client_ip
from interviewer.routing import websocket_urlpatterns
from interviews import sandbox
from interviews import turns as turn_pipeline
from interviews.engine import analysis
from interviews.engine.base import InterviewContext, TurnView
from interviews.engine.local import LocalEngine, coach_answer
from interviews.engine.personas import job_description_for
from interviews.engine.policy import allowed_actions
from interviews.models import Feedback, Interview, Turn
from lib.caps import get_cap, user_stream_cap
from speech.models import SpeechTask
from speech.providers.assemblyai import AssemblyAITranscriber
from speech.providers.base import CLOSED, SpeechError, SpeechEvent
from speech.providers.local_stt import LocalBatchTranscriber
from speech.tasks import stt_cap_name
from speech.tts import queue_sentence
from tests.factories import ask, make_interview
from tests.fakes.assemblyai import fake_assemblyai  # noqa: F401 (a fixture)
from tests.hostile_files import docx_bomb, lying_webm, pdf_shared_stream_bomb
from tests.media_and_sockets import ShiftedClock, SocketCloses, interview_with_files, media

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200 + b"This program cannot be run in DOS mode."


SNAPSHOT_MODELS = [Interview, Turn, Feedback, SpeechTask, Profile]


def rows(model):
    """Every stored value of every row: concrete_fields, so a field added later is covered too."""
    fields = [f.attname for f in model._meta.concrete_fields]
    return list(model.objects.order_by("pk").values_list(*fields))


def media_files():
    root = Path(django_settings.MEDIA_ROOT)
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def snapshot():
    """Everything a hostile request could change: every field of every row, and the files."""
    return [rows(model) for model in SNAPSHOT_MODELS] + [media_files()]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """A MEDIA_ROOT of this test's own, so snapshot() sees only files this test made."""
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def zip_bomb_docx():
    """A small .docx whose document.xml inflates to 60 MB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b" " * (60 * 1024 * 1024))
    return out.getvalue()


def new_form(**overrides):
    data = {
        "job_role": "Data Analyst",
        "company": "Globex",
        "job_description": "SQL",
        "resume": "",
        "style": "formal",
        "difficulty": "medium",
        "length_mode": "questions",
        "question_count": "4",
        "duration_minutes": "",
        "mode": "practice",
    }
    data.update(overrides)
    return data


def upload(name, content):
    return SimpleUploadedFile(name, content)


NEW_INTERVIEW_CASES = [
    ("overlong role", {"job_role": "R" * 121}, "at most 120 characters"),
    ("overlong company", {"company": "C" * 121}, "at most 120 characters"),
    ("overlong job description", {"job_description": "J" * 20_001}, "at most 20000 characters"),
    ("overlong résumé", {"resume": "R" * 20_001}, "at most 20000 characters"),
    ("blank role", {"job_role": "   "}, "This field is required."),
    ("null byte in role", {"job_role": "Dev\x00Ops"}, "Null characters are not allowed."),
    ("null byte in job description", {"job_description": "SQL\x00"}, "Null characters are not allowed."),
    ("unknown style", {"style": "sarcastic"}, "Select a valid choice"),
    ("unknown difficulty", {"difficulty": "impossible"}, "Select a valid choice"),
    ("unknown length mode", {"length_mode": "forever"}, "Select a valid choice"),
    ("unknown feedback mode", {"mode": "chaos"}, "Select a valid choice"),
    ("negative question count", {"question_count": "-3"}, "greater than or equal to 3"),
    ("huge question count", {"question_count": "9" * 40}, "less than or equal to 20"),
    ("NaN question count", {"question_count": "NaN"}, "Enter a whole number."),
    ("infinite minutes", {"length_mode": "minutes", "duration_minutes": "1e999"}, "Enter a whole number."),
    ("negative minutes", {"length_mode": "minutes", "duration_minutes": "-5"}, "greater than or equal to 5"),
    ("PNG named .pdf", {"resume_file": ("resume.pdf", PNG)}, "Unsupported file type"),
    ("program named .docx", {"resume_file": ("resume.docx", EXE)}, "Unsupported file type"),
    ("damaged PDF", {"resume_file": ("resume.pdf", b"%PDF-1.4\n garbage \x00 trailer")}, "could not be read"),
    ("zip bomb .docx", {"resume_file": ("resume.docx", zip_bomb_docx())}, "too large once unpacked"),
    ("zip that is not a .docx", {"resume_file": ("resume.docx", b"PK\x03\x04 not really a zip")}, "could not be read as a Word document"),
    ("invalid UTF-8 text résumé", {"resume_file": ("resume.txt", b"\x81\x8d\x8f\x90\x9d")}, "not in a readable encoding"),
    ("résumé over 5 MB", {"resume_file": ("resume.txt", b"a" * (5 * 1024 * 1024 + 1))}, "The file is too large"),
    ("empty résumé file", {"resume_file": ("resume.txt", b"")}, "The submitted file is empty."),
]


@pytest.mark.parametrize("case, fields, message", NEW_INTERVIEW_CASES, ids=[c[0] for c in NEW_INTERVIEW_CASES])
def test_it_refuses_hostile_interview_forms_clearly(owner_client, case, fields, message):
    fields = {k: upload(*v) if isinstance(v, tuple) else v for k, v in fields.items()}
    before = snapshot()
    response = owner_client.post(reverse("new_interview"), new_form(**fields))
    assert response.status_code == 200, case
    assert message in response.content.decode(), case
    assert snapshot() == before


def test_it_refuses_a_huge_form_body(owner_client):
    before = snapshot()
    response = owner_client.post(reverse("new_interview"), new_form(job_description="J" * (7 * 1024 * 1024)))
    assert response.status_code == 400
    assert snapshot() == before


def test_it_refuses_too_many_form_fields(owner_client):
    before = snapshot()
    response = owner_client.post(reverse("new_interview"), {**new_form(), **{f"f{i}": "x" for i in range(1200)}})
    assert response.status_code == 400
    assert snapshot() == before


@pytest.mark.parametrize(
    "field, payload",
    [
        ("job_role", "<script>alert('role')</script>"),
        ("company", "'; DROP TABLE interviews_interview; --"),
        ("company", '"><img src=x onerror=alert(1)>'),
        ("job_role", "{{ request.user.password }} {% debug %}"),
    ],
)
def test_it_stores_markup_and_sql_as_plain_text_and_shows_it_escaped(owner_client, owner, field, payload):
    response = owner_client.post(reverse("new_interview"), new_form(**{field: payload}), follow=True)
    interview = Interview.objects.get(owner=owner)
    assert getattr(interview, field) == payload
    page = response.content.decode()
    assert payload not in page or payload.startswith("{{")  # template syntax in data is never evaluated
    if "<" in payload:
        assert payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").split("&gt;")[0] in page
    assert "pbkdf2" not in page
    dashboard = owner_client.get(reverse("dashboard")).content.decode()
    assert "<script>alert" not in dashboard and "<img src=x" not in dashboard


# ----- answers -----


@pytest.fixture
def interview(owner):
    interview = make_interview(owner)
    ask(interview, "Why this role?", Turn.Kind.INTRODUCTION)
    return interview


ANSWER_CASES = [
    ("overlong answer", {"answer": "a" * 10_001, "after_index": "0"}, "limited to 10,000 characters"),
    ("blank answer", {"answer": " \n\t ", "after_index": "0"}, "Please write an answer"),
    ("null byte in answer", {"answer": "I led\x00 it", "after_index": "0"}, "null character"),
    ("missing after_index", {"answer": "Hi"}, "reload the page"),
    ("negative after_index", {"answer": "Hi", "after_index": "-1"}, "no open question"),
    ("after_index beyond the end", {"answer": "Hi", "after_index": "99"}, "no open question"),
    ("after_index too big for the database", {"answer": "Hi", "after_index": "9" * 30}, "no open question"),
    ("float after_index", {"answer": "Hi", "after_index": "0.0"}, "reload the page"),
    ("SQL in after_index", {"answer": "Hi", "after_index": "0 OR 1=1"}, "reload the page"),
]


@pytest.mark.parametrize("case, data, message", ANSWER_CASES, ids=[c[0] for c in ANSWER_CASES])
def test_it_refuses_hostile_answers_clearly(owner_client, interview, case, data, message):
    before = snapshot()
    response = owner_client.post(reverse("submit_answer", args=[interview.id]), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body and "error-box" in body, case
    assert snapshot() == before


def test_it_refuses_an_answer_to_its_own_answer(owner_client, owner, interview):
    interview.accept_answer("First.", 0)
    before = snapshot()
    response = owner_client.post(reverse("submit_answer", args=[interview.id]), {"answer": "Again", "after_index": 1}, HTTP_HX_REQUEST="true")
    assert "no open question" in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("field, value", [("speaking_seconds", "NaN"), ("speaking_seconds", "-5"), ("speaking_seconds", "1e999"), ("speaking_seconds", "99999999"), ("source", "admin")])
def test_it_ignores_impossible_voice_details(owner_client, interview, field, value):
    data = {"answer": "Because.", "after_index": 0, field: value}
    owner_client.post(reverse("submit_answer", args=[interview.id]), data, HTTP_HX_REQUEST="true")
    answer = interview.turns.get(index=1)
    assert answer.source == "typed" and answer.speaking_seconds is None


def test_it_ignores_a_transcript_from_another_users_interview(owner_client, other, interview):
    theirs = make_interview(other)
    task = SpeechTask.objects.create(interview=theirs, kind=SpeechTask.Kind.STT_BATCH, status=SpeechTask.Status.COMPLETED, result={"path": "uploads/x.audio"})
    data = {"answer": "Because.", "after_index": 0, "speech_task": str(task.id)}
    owner_client.post(reverse("submit_answer", args=[interview.id]), data, HTTP_HX_REQUEST="true")
    answer = interview.turns.get(index=1)
    assert answer.source == "typed" and answer.audio == ""


def test_it_shows_invalid_utf8_as_replacement_characters(owner_client, interview):
    body = b"answer=I%20led%20%FF%FE%20it&after_index=0"
    response = owner_client.generic("POST", reverse("submit_answer", args=[interview.id]), body, content_type="application/x-www-form-urlencoded", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert interview.turns.get(index=1).text == "I led \ufffd\ufffd it"


@pytest.mark.parametrize(
    "name, args",
    [("submit_answer", {"answer": "x", "after_index": 0}), ("retry_turn", {}), ("end_interview", {}), ("delete_interview", {}), ("upload_answer_audio", {}), ("voice_settings", {"speech_speed": "2"})],
)
def test_it_hides_other_users_interviews(client, other, interview, name, args):
    client.force_login(other)
    before = snapshot()
    response = client.post(reverse(name, args=[interview.id]), args)
    assert response.status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize(
    "path",
    [
        "/interviews/not-a-uuid/",
        "/interviews/00000000-0000-0000-0000-00000000000g/answer/",
        "/interviews/%27%20OR%201=1--/report/",
        "/interviews/../admin/",
        "/speech/tasks/12345/audio",
    ],
)
def test_it_answers_404_to_malformed_ids_in_urls(owner_client, path):
    before = snapshot()
    assert owner_client.post(path, {"answer": "x"}).status_code == 404
    assert snapshot() == before


def test_it_shows_model_text_as_text(owner, owner_client, interview):
    """What a model writes (questions, coach feedback) is escaped, never rendered as HTML or Markdown."""
    turn = interview.accept_answer("Answer.", 0)
    ask(interview, "Next? <img src=x onerror=alert(1)> **bold**")
    scores = {"relevance": {"score": 3, "evidence": "<script>alert(2)</script>", "note": "<b>n</b>"}}
    Feedback.objects.create(turn=turn, status=Feedback.Status.READY, scores=scores, metrics={}, text="<iframe src=//evil>")
    page = owner_client.get(reverse("interview_room", args=[interview.id])).content.decode()
    for raw in ["<img src=x", "<script>alert(2)", "<b>n</b>", "<iframe"]:
        assert raw not in page
    assert "&lt;img src=x onerror=alert(1)&gt; **bold**" in page


# ----- uploads -----


UPLOAD_CASES = [
    ("no file", None, "Choose an audio file"),
    ("program named .wav", ("answer.wav", EXE), "not audio we can read"),
    ("PNG named .mp3", ("answer.mp3", PNG), "not audio we can read"),
    ("text named .ogg", ("answer.ogg", b"just some words, not audio at all\n" * 10), "not audio we can read"),
    ("truncated WAV header", ("answer.wav", b"RIFF\x24\x00\x00\x00WAVEfmt "), "not audio we can read"),
]


@pytest.mark.parametrize("case, file, message", UPLOAD_CASES, ids=[c[0] for c in UPLOAD_CASES])
def test_it_refuses_hostile_uploads_clearly(owner_client, interview, settings, tmp_path, case, file, message):
    settings.MEDIA_ROOT = str(tmp_path)
    before = snapshot()
    data = {"audio": upload(*file)} if file else {}
    response = owner_client.post(reverse("upload_answer_audio", args=[interview.id]), data, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "error-box" in body, case
    assert message in body, (case, body)
    assert snapshot() == before
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "the rejected file was kept"


def test_it_refuses_an_audio_upload_over_the_size_limit(owner_client, interview, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.AUDIO_UPLOAD_MAX_BYTES = 1024 * 1024
    before = snapshot()
    response = owner_client.post(reverse("upload_answer_audio", args=[interview.id]), {"audio": upload("a.wav", b"\x00" * (1024 * 1024 + 1))}, HTTP_HX_REQUEST="true")
    assert "The file is too large: the limit is 1 MB." in response.content.decode()
    assert snapshot() == before and not any(tmp_path.rglob("*.audio"))


def test_it_refuses_an_upload_when_no_question_is_open(owner_client, owner, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    interview = make_interview(owner)  # the interviewer has not asked yet
    before = snapshot()
    response = owner_client.post(reverse("upload_answer_audio", args=[interview.id]), {"audio": upload("a.wav", b"RIFF")}, HTTP_HX_REQUEST="true")
    assert "no open question" in response.content.decode()
    assert snapshot() == before


# ----- sockets -----

app = URLRouter(websocket_urlpatterns)


def socket(path, user):
    comm = WebsocketCommunicator(app, path)
    comm.scope["user"] = user
    comm.scope["client"] = ("10.3.3.3", 40000)
    return comm


@pytest.fixture
def quiet_turns(monkeypatch):
    started = []
    monkeypatch.setattr("interviews.turns.schedule", lambda coro: (started.append(coro.__qualname__), coro.close()))
    return started


ROOM_SOCKET_CASES = [
    ("binary frame to the JSON socket", {"bytes_data": b"\x00\x01\x02"}, "Unsupported message."),
    ("oversized text frame", {"text_data": '{"type": "ping", "pad": "' + "x" * 5000 + '"}'}, "Unsupported message."),
    ("malformed JSON", {"text_data": '{"type": "ping"'}, "Messages must be JSON."),
    ("JSON that is not an object", {"text_data": "[1, 2, 3]"}, "Unknown message."),
    ("unknown message type", {"text_data": '{"type": "delete_everything"}'}, "Unknown message."),
    ("null bytes", {"text_data": '{"type": "\\u0000ping"}'}, "Unknown message."),
    ("brackets nested too deep for the JSON parser", {"text_data": "[" * 2000 + "]" * 2000}, "Messages must be JSON."),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case, frame, message", ROOM_SOCKET_CASES, ids=[c[0] for c in ROOM_SOCKET_CASES])
async def test_it_answers_hostile_room_socket_frames_clearly(owner, quiet_turns, case, frame, message):
    interview = await database_sync_to_async(make_interview)(owner)
    await database_sync_to_async(ask)(interview, "Why?", Turn.Kind.INTRODUCTION)
    comm = socket(f"/ws/interviews/{interview.id}/", owner)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from())["event"] == "sync"
    before = await database_sync_to_async(snapshot)()
    await comm.send_to(**frame)
    reply = await comm.receive_json_from(timeout=3)
    assert reply == {"event": "error", "message": message}, case
    # Still open and working afterwards.
    await comm.send_json_to({"type": "ping"})
    assert (await comm.receive_json_from(timeout=3)) == {"event": "pong"}
    assert await database_sync_to_async(snapshot)() == before
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("suffix", ["", "speech/"])
@pytest.mark.parametrize("who, code", [("other", 4404), ("anonymous", 4401)])
async def test_it_closes_sockets_for_outsiders(owner, other, quiet_turns, suffix, who, code):
    interview = await database_sync_to_async(make_interview)(owner)
    user = other if who == "other" else AnonymousUser()
    before = await database_sync_to_async(snapshot)()
    comm = socket(f"/ws/interviews/{interview.id}/{suffix}", user)
    connected, close_code = await comm.connect()
    assert not connected and close_code == code
    assert quiet_turns == []
    assert await database_sync_to_async(snapshot)() == before


class RecordingTranscriber:
    """Stands in for the local model; records the audio it is given."""

    def __init__(self):
        self.audio = []

    async def start(self):
        pass

    async def events(self):
        if False:
            yield

    async def send_audio(self, data):
        self.audio.append(data)

    async def finish(self):
        pass

    async def close(self):
        pass


SPEECH_SOCKET_CASES = [
    ("oversized audio frame", {"bytes_data": b"\x00" * 40_000}, "Audio frame too large"),
    ("text to the audio socket", {"text_data": "hello"}, "Unsupported message."),
    ("JSON command that does not exist", {"text_data": '{"type": "transcribe_file", "path": "/etc/passwd"}'}, "Unsupported message."),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case, frame, message", SPEECH_SOCKET_CASES, ids=[c[0] for c in SPEECH_SOCKET_CASES])
async def test_it_answers_hostile_speech_socket_frames_clearly(owner, monkeypatch, case, frame, message):
    transcriber = RecordingTranscriber()
    monkeypatch.setattr("interviews.microphone.get_live_transcriber", lambda **kw: transcriber)
    interview = await database_sync_to_async(make_interview)(owner)
    comm = socket(f"/ws/interviews/{interview.id}/speech/", owner)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from(timeout=5))["event"] == "ready"
    before = await database_sync_to_async(snapshot)()
    await comm.send_to(**frame)
    reply = await comm.receive_json_from(timeout=3)
    assert reply["event"] == "error" and message in reply["message"], case
    assert transcriber.audio == []
    assert await database_sync_to_async(snapshot)() == before
    await comm.disconnect()


def test_it_refuses_posts_without_a_csrf_token(owner, interview):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    before = snapshot()
    assert client.post(reverse("upload_answer_audio", args=[interview.id]), {"audio": upload("a.wav", b"RIFF")}).status_code == 403
    assert snapshot() == before


# ===== Resource isolation (issue 9). Each numbered section is its item. =====

# ----- 1. The event loop never runs the engine's CPU work -----


def _hostile(unit, length=10_000):
    return (unit * (length // len(unit) + 1))[:length]


# Each is a full-length answer (the answer cap) built to make a careless
# pattern or loop rescan it from every position.
HOSTILE_ANSWERS = [
    ("digits and commas", _hostile("1,")),
    ("digits and dots", _hostile("1.")),
    ("digits", _hostile("1")),
    ("dots", _hostile(".")),
    ("one long word", _hostile("a")),
    ("nested parentheses", _hostile("(")),
    ("nested brackets", _hostile("[")),
    ("many short sentences", _hostile("a. ")),
    ("money", _hostile("$1")),
    ("percent signs", _hostile("%")),
    ("figures with units", _hostile("1 % ")),
    ("figures and times", _hostile("1x ")),
    ("skill names", _hostile("python ")),
    ("fillers", _hostile("um, so, ")),
    ("mixed case", _hostile("I Led So, Um LIKE we Python Go R 1,1 $2.5M 30 Percent. ")),
]
HOSTILE_IDS = [case for case, _ in HOSTILE_ANSWERS]
STORY_QUESTION = "Tell me about a time you improved the performance of a system?"


@pytest.mark.parametrize("case, text", HOSTILE_ANSWERS, ids=HOSTILE_IDS)
def test_it_analyses_hostile_answers_in_well_under_a_second(case, text):
    for job_description in (job_description_for("Backend Engineer"), text + text):
        started = time.process_time()
        analysis.analyse(STORY_QUESTION, text, job_description, "Backend Engineer")
        assert time.process_time() - started < 1.0, case


@pytest.mark.parametrize("case, text", HOSTILE_ANSWERS, ids=HOSTILE_IDS)
def test_it_coaches_hostile_answers_in_well_under_a_second(case, text):
    ctx = InterviewContext(job_role="Backend Engineer", job_description=job_description_for("Backend Engineer"))
    started = time.process_time()
    coach_answer(ctx, STORY_QUESTION, text, None)
    assert time.process_time() - started < 1.0, case


def test_it_finds_the_key_terms_of_a_hostile_job_description_quickly():
    # 2,500 different words, all of it said twice: thousands of repeated phrases
    # in the form's 20,000 characters.
    words = " ".join("".join(letters) for letters in itertools.product(string.ascii_lowercase, repeat=3))
    job_description = ((words[:10_000] + " ") * 2)[:20_000]
    started = time.process_time()
    analysis.key_terms(job_description, "Backend Engineer")
    assert time.process_time() - started < 1.0


def _thread_of_hostile_answers(text, job_description):
    """A main question with an answer and two follow-ups: follow-up planning
    reads all three answers together (30,000 characters)."""
    return InterviewContext(
        job_role="Backend Engineer",
        job_description=job_description,
        question_count=5,
        transcript=[
            TurnView("interviewer", "introduction", f"Welcome. {STORY_QUESTION}"),
            TurnView("candidate", "answer", text),
            TurnView("interviewer", "follow_up", "What was your own part in that?"),
            TurnView("candidate", "answer", text),
            TurnView("interviewer", "follow_up", "How did it turn out?"),
            TurnView("candidate", "answer", text),
        ],
        main_questions_asked=1,
        follow_ups_on_current=2,
    )


@pytest.mark.parametrize("case, text", HOSTILE_ANSWERS, ids=HOSTILE_IDS)
def test_it_plans_the_next_turn_over_30000_characters_of_hostile_answers_quickly(case, text):
    ctx = _thread_of_hostile_answers(text, job_description_for("Backend Engineer"))
    for follow_ups in (1, 2):  # a follow-up still allowed, then not
        ctx.follow_ups_on_current = follow_ups
        started = time.process_time()
        LocalEngine().plan(ctx, allowed_actions(ctx))
        assert time.process_time() - started < 1.0, case


async def _longest_stall(work):
    """The longest the event loop went without running a 10 ms ticker, or
    answering /healthz, while `work` ran."""
    from django.test import AsyncClient

    done = asyncio.Event()
    stalls = []
    client = AsyncClient()
    await client.get("/healthz")  # the first request also loads the URL conf

    async def ticker():
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.01)
            stalls.append(time.monotonic() - last)
            last = time.monotonic()

    async def healthz():
        while not done.is_set():
            asked = time.monotonic()
            assert (await client.get("/healthz")).status_code == 200
            stalls.append(time.monotonic() - asked)
            await asyncio.sleep(0.01)

    async def run():
        try:
            return await work
        finally:
            done.set()

    result, _, _ = await asyncio.gather(run(), ticker(), healthz())
    return result, max(stalls)


@pytest.mark.django_db(transaction=True)
async def test_it_keeps_the_event_loop_responsive_while_a_turn_analyses_a_hostile_answer(owner, settings):
    settings.INTERVIEW_LLM = "local"
    settings.INTERVIEW_LOCAL_STREAM_DELAY = 0
    interview = await database_sync_to_async(make_interview)(owner, job_description=job_description_for("Backend Engineer"))
    await turn_pipeline.run_interviewer_turn(interview.id)
    answer = await database_sync_to_async(interview.accept_answer)(_hostile("1,"), 0)

    # The interviewer's next turn and the coach, as after a submitted answer.
    _, stall = await _longest_stall(turn_pipeline.after_answer(interview.id, answer.id))

    assert await Turn.objects.filter(interview=interview).acount() == 3
    assert await Feedback.objects.filter(turn=answer, status=Feedback.Status.READY).aexists()
    assert stall < 0.2


@pytest.mark.django_db(transaction=True)
async def test_it_keeps_another_interviews_tokens_flowing_while_a_turn_analyses_a_hostile_answer(owner, other, settings):
    from channels.layers import get_channel_layer

    settings.INTERVIEW_LLM = "local"
    settings.INTERVIEW_LOCAL_STREAM_DELAY = 0.01
    hostile = await database_sync_to_async(make_interview)(owner, job_description=job_description_for("Backend Engineer"))
    await turn_pipeline.run_interviewer_turn(hostile.id)
    answer = await database_sync_to_async(hostile.accept_answer)(_hostile("1,"), 0)
    calm = await database_sync_to_async(make_interview)(other)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(turn_pipeline.group_name(calm.id), channel)

    async def next_event():
        return (await asyncio.wait_for(layer.receive(channel), timeout=120))["payload"]["event"]

    calm_turn = asyncio.create_task(turn_pipeline.run_interviewer_turn(calm.id))
    while await next_event() != "turn.token":
        pass
    # The other candidate's introduction is streaming: now the hostile answer's turn and coach start.
    hostile_work = asyncio.create_task(turn_pipeline.after_answer(hostile.id, answer.id))
    arrivals = [time.monotonic()]
    while (event := await next_event()) != "turn.done":
        if event == "turn.token":
            arrivals.append(time.monotonic())
    arrivals.append(time.monotonic())
    await asyncio.gather(calm_turn, hostile_work)

    assert len(arrivals) > 3
    assert max(b - a for a, b in zip(arrivals, arrivals[1:])) < 0.2


# ----- 2. Résumé parsing is bounded -----


RESUME_BOMBS = [
    # (case, file name, content, settings, message)
    ("DOCX whose document.xml unpacks to 5 MB", "resume.docx", docx_bomb, {}, "too large once unpacked"),
    ("PDF whose 20 pages share a 2 MB content stream", "resume.pdf", pdf_shared_stream_bomb, {}, "too large or complex to read"),
    # Under pypdf's token budget per stream, so only the child's CPU limit stops it.
    ("PDF whose 20 pages share a 450 KB content stream", "resume.pdf", lambda: pdf_shared_stream_bomb(450 * 1024), {"RESUME_PARSE_SECONDS": 1}, "too large or complex to read"),
]


@pytest.mark.parametrize("case, name, make, overrides, message", RESUME_BOMBS, ids=[b[0] for b in RESUME_BOMBS])
def test_it_refuses_a_resume_bomb_cheaply_and_stores_nothing(owner_client, settings, case, name, make, overrides, message):
    for setting, value in overrides.items():
        setattr(settings, setting, value)
    content = make()
    assert len(content) < 64_000, "the bomb is a small file"
    before = snapshot()
    started = time.process_time()
    response = owner_client.post(reverse("new_interview"), new_form(resume_file=upload(name, content)))
    cpu = time.process_time() - started
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["resume_file"])
    assert message in errors and "Paste the text instead." in errors, errors
    assert cpu < 1.0, f"{cpu:.2f} s of CPU in the request process"
    assert snapshot() == before


def test_it_reads_a_long_docx_outside_the_request_process_up_to_the_kept_text(owner_client, owner):
    # 1.5 MB of XML (under the cap): 40,000 one-letter paragraphs, of which
    # the 20,000 characters kept are read.
    content = docx_bomb(1_500_000)
    started = time.process_time()
    response = owner_client.post(reverse("new_interview"), new_form(resume_file=upload("resume.docx", content)))
    cpu = time.process_time() - started
    assert response.status_code == 302
    assert Interview.objects.get(owner=owner).resume == "a\n" * 10_000
    assert cpu < 1.0, f"{cpu:.2f} s of CPU in the request process"


@pytest.mark.parametrize("target, timeout", [("spin", None), ("hog_memory", None), ("nap", 1)])
def test_it_stops_a_sandboxed_reader_past_its_cpu_memory_or_time_limit(target, timeout):
    assert sandbox.run("tests.sandbox_targets:length", b"abc", cpu_seconds=1) == 3
    started = time.process_time()
    with pytest.raises(sandbox.Overrun):
        sandbox.run(f"tests.sandbox_targets:{target}", b"", cpu_seconds=1, memory_bytes=128 * 1024 * 1024, timeout=timeout)
    assert time.process_time() - started < 0.5


# ----- 3. Live-transcription slots cannot be hoarded -----


class HeldTranscriber:
    """Stands in for a live transcriber: open until finished or closed, as the real ones are."""

    def __init__(self):
        self.audio = []
        self.finished = False
        self.done = asyncio.Event()

    async def start(self):
        pass

    async def events(self):
        await self.done.wait()
        yield SpeechEvent(CLOSED)

    async def send_audio(self, data):
        self.audio.append(data)

    async def finish(self):
        self.finished = True
        self.done.set()

    async def close(self):
        self.done.set()


@pytest.fixture
def held_streams(monkeypatch, settings):
    """Live streams on HeldTranscribers (the list of them), on the local engine's live cap."""
    settings.RATE_LIMITS_ENABLED = False
    settings.SPEECH_LIVE_STT = "local"
    settings.SPEECH_LIVE_FALLBACK = "none"
    made = []

    def transcriber(**options):
        made.append(HeldTranscriber())
        return made[-1]

    monkeypatch.setattr("interviews.microphone.get_live_transcriber", transcriber)
    return made


async def open_stream(user, interview):
    comm = socket(f"/ws/interviews/{interview.id}/speech/", user)
    assert (await comm.connect())[0]
    return comm


async def until_closed(comm, timeout=10):
    """The events the socket sent, and its close code."""
    seen = []
    while True:
        output = await comm.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return seen, output.get("code")
        seen.append(json.loads(output["text"]))


async def slots_held(user):
    return await get_cap("local_stt_live").ain_use(), await user_stream_cap(user.pk).ain_use()


@pytest.mark.django_db(transaction=True)
async def test_it_lets_a_user_hold_one_live_stream_slot_however_many_sockets_they_open(owner, held_streams, settings):
    settings.CAP_LOCAL_STT_LIVE = 5
    interview = await database_sync_to_async(make_interview)(owner)
    first = await open_stream(owner, interview)
    assert (await first.receive_json_from(timeout=5))["event"] == "ready"
    second = await open_stream(owner, interview)  # a second tab, or a reload
    assert (await second.receive_json_from(timeout=10))["event"] == "ready"
    # The new one took over: the old tab is told why and closed.
    seen, code = await until_closed(first)
    assert code == 4409
    assert seen[-1]["event"] == "error" and "another tab" in seen[-1]["message"]
    assert await slots_held(owner) == (1, 1)
    await first.disconnect()
    await second.disconnect()
    assert await slots_held(owner) == (0, 0)


@pytest.mark.django_db(transaction=True)
async def test_it_closes_a_stream_that_sends_no_audio_and_frees_its_slot(owner, held_streams, settings):
    settings.SPEECH_STREAM_IDLE_SECONDS = 0.3
    interview = await database_sync_to_async(make_interview)(owner)
    comm = await open_stream(owner, interview)
    assert (await comm.receive_json_from(timeout=5))["event"] == "ready"
    assert await slots_held(owner) == (1, 1)
    seen, code = await until_closed(comm)  # no frames at all
    assert code == 4408
    errors = [m["message"] for m in seen if m["event"] == "error"]
    assert errors == ["The microphone was closed after 0.3 seconds without audio from it. Press 🎤 to start again, or type your answer."]
    assert await slots_held(owner) == (0, 0)
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_closes_a_stream_at_the_time_limit_however_little_it_sent(owner, held_streams, settings):
    # Silent frames are audio: they keep the stream open past the idle timeout
    # (a candidate thinking), but not past the wall-clock limit.
    settings.SPEECH_STREAM_IDLE_SECONDS = 1.5
    settings.SPEECH_STREAM_MAX_SECONDS = 3
    interview = await database_sync_to_async(make_interview)(owner)
    comm = await open_stream(owner, interview)
    assert (await comm.receive_json_from(timeout=5))["event"] == "ready"

    async def send_silence():
        while True:
            await comm.send_to(bytes_data=b"\x00" * 320)  # 10 ms a frame: far under 3 s of audio in all
            await asyncio.sleep(0.05)

    sending = asyncio.create_task(send_silence())
    try:
        seen, code = await until_closed(comm, timeout=15)
    finally:
        sending.cancel()
    assert code == 4413
    assert [m["event"] for m in seen] == ["error", "closed"]  # the last words are flushed first
    assert "limit of 3 seconds" in seen[0]["message"]
    assert held_streams[0].finished
    assert sum(map(len, held_streams[0].audio)) < 3 * 32_000
    assert await slots_held(owner) == (0, 0)
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_keeps_uploads_a_slot_of_their_own_when_live_streams_fill_theirs(owner, other, held_streams, settings):
    settings.CAP_LOCAL_STT_LIVE = 2
    settings.CAP_LOCAL_STT_BATCH = 1
    settings.SPEECH_BATCH_STT = "local"
    streams = []
    for user in (owner, other):
        interview = await database_sync_to_async(make_interview)(user)
        streams.append(await open_stream(user, interview))
        assert (await streams[-1].receive_json_from(timeout=5))["event"] == "ready"
    assert await get_cap("local_stt_live").ain_use() == 2
    upload_slot = await get_cap(stt_cap_name()).atry_acquire()  # at once, not after a wait
    await upload_slot.arelease()
    for comm in streams:
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("which, code", [("this interview", 4410), ("every interview", 4401)])
async def test_it_closes_the_speech_socket_on_logout_or_deletion(owner, held_streams, which, code):
    interview = await database_sync_to_async(make_interview)(owner)
    comm = await open_stream(owner, interview)
    assert (await comm.receive_json_from(timeout=5))["event"] == "ready"
    layer = get_channel_layer()
    # Another interview's deletion leaves this socket open…
    await layer.group_send(f"user.{owner.pk}", {"type": "sockets.close", "interview": str(uuid.uuid4()), "code": 4000})
    # …its own, or the user's logout, closes it.
    target = str(interview.id) if which == "this interview" else None
    await layer.group_send(f"user.{owner.pk}", {"type": "sockets.close", "interview": target, "code": code})
    seen, closed_with = await until_closed(comm)
    assert closed_with == code
    assert await slots_held(owner) == (0, 0)
    await comm.disconnect()


# ----- 4. Uploaded audio's length is what it decodes to -----


# WebM/Opus whose header says 1 s and which decodes to 60 s; the limit is 10 s.
LYING_SECONDS, LIMIT_SECONDS = 60, 10


def test_it_fails_an_upload_that_decodes_longer_than_its_header_says(owner_client, interview, settings, monkeypatch, media_root):
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)  # the stt job runs inside the request
    settings.AUDIO_UPLOAD_MAX_SECONDS = LIMIT_SECONDS
    response = owner_client.post(
        reverse("upload_answer_audio", args=[interview.id]),
        {"audio": upload("answer.webm", lying_webm(LYING_SECONDS, 1.0))},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    task = SpeechTask.objects.get(interview=interview)
    assert task.status == SpeechTask.Status.ERROR
    assert "lasts more than 10 s, the limit" in task.error
    assert "text" not in task.result
    page = owner_client.get(reverse("speech_task_status", args=[task.id])).content.decode()
    assert "error-box" in page and "lasts more than 10 s, the limit" in page
    assert not [p for p in media_root.rglob("*") if p.is_file()], "the refused recording was kept"


def test_it_decodes_a_long_upload_in_bounded_memory(settings, tmp_path):
    settings.AUDIO_UPLOAD_MAX_SECONDS = LIMIT_SECONDS
    path = tmp_path / "answer.audio"
    path.write_bytes(lying_webm(LYING_SECONDS, 1.0))
    tracemalloc.start()
    try:
        with pytest.raises(SpeechError, match="lasts more than 10 s"):
            LocalBatchTranscriber().transcribe(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 60 s at 16 kHz is 1.9 MB of int16 and 3.8 MB of float32; the 10 s allowed, 320 KB.
    assert peak < 1_500_000, f"peak {peak} bytes"


def test_it_sends_assemblyai_nothing_that_decodes_longer_than_the_limit(fake_assemblyai, settings, tmp_path):
    settings.AUDIO_UPLOAD_MAX_SECONDS = LIMIT_SECONDS
    path = tmp_path / "answer.audio"
    path.write_bytes(lying_webm(LYING_SECONDS, 1.0))
    with pytest.raises(SpeechError, match="lasts more than 10 s"):
        AssemblyAITranscriber().transcribe(path)
    assert fake_assemblyai.requests == []


# ----- 5. Oversized request bodies are refused early -----


class BodyReadingApp:
    """Reads the whole body, as Django's handler does, and records what it saw."""

    def __init__(self):
        self.called, self.body, self.aborted = False, b"", False

    async def __call__(self, scope, receive, send):
        self.called = True
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.aborted = True
                return
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def post_asgi(app, chunks, headers=(), path="/"):
    """One POST through `app`, its body sent in `chunks`; (status, chunks the server had to read)."""
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    read = 0
    sent = []

    async def receive():
        nonlocal read
        read += 1
        return messages[read - 1] if read <= len(messages) else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http", "path": path,
             "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": [(b"host", b"testserver"), *headers],
             "client": ("203.0.113.5", 40000), "server": ("testserver", 80)}  # fmt: skip
    await app(scope, receive, send)
    return sent[0]["status"], read


async def test_it_answers_413_from_content_length_without_reading_the_body(settings):
    settings.REQUEST_MAX_BYTES = 1000
    app = BodyReadingApp()
    status, read = await post_asgi(limit_request_body(app), [b"x" * 1001], headers=[(b"content-length", b"1001")])
    assert status == 413 and read == 0 and not app.called


async def test_it_answers_413_once_a_chunked_body_grows_past_the_limit(settings):
    settings.REQUEST_MAX_BYTES = 1000
    app = BodyReadingApp()
    status, read = await post_asgi(limit_request_body(app), [b"x" * 400] * 50)  # no Content-Length: 20 kB in 400-byte chunks
    assert status == 413
    assert read == 3  # the chunk that crossed the limit is the last one read...
    assert app.aborted and app.body == b"x" * 800  # ...and the app never sees it


async def test_it_stops_django_before_any_view_for_an_oversized_body(settings):
    settings.REQUEST_MAX_BYTES = 1000
    started = []

    def record(**kwargs):
        started.append(kwargs)

    request_started.connect(record)
    try:
        status, _ = await post_asgi(limit_request_body(get_asgi_application()), [b"email=a%40example.com&password1="] + [b"x" * 500] * 10, path="/accounts/signup/")
    finally:
        request_started.disconnect(record)
    assert status == 413 and started == []


# ----- 6. The client address is trustworthy behind a proxy -----


PROXY = "10.0.0.2"


def via_proxy(user, forwarded_for):
    """A client behind the nginx at PROXY, which appended the address it saw."""
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)
    client.force_login(user)
    return client


@pytest.mark.parametrize("trusted", [1, ["10.0.0.0/8"]], ids=["count", "networks"])
def test_it_limits_each_client_behind_a_proxy_by_its_own_address_whatever_it_forges(owner, interview, settings, trusted):
    settings.TRUSTED_PROXIES = trusted
    settings.RATE_LIMIT_ANSWERS = ""
    settings.RATE_LIMIT_ANSWERS_IP = "1/m"
    url = reverse("submit_answer", args=[interview.id])
    data = {"answer": "Hi", "after_index": 7}
    assert via_proxy(owner, "198.51.100.1").post(url, data, HTTP_HX_REQUEST="true").status_code == 200
    # Another client of the same proxy is not held back by the first...
    assert via_proxy(owner, "198.51.100.2").post(url, data, HTTP_HX_REQUEST="true").status_code == 200
    # ...and the first cannot escape its limit by writing another address first.
    assert via_proxy(owner, "127.0.0.1, 198.51.100.1").post(url, data, HTTP_HX_REQUEST="true").status_code == 429


def test_it_finds_the_client_of_a_proxied_websocket(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    scope = {"type": "websocket", "client": (PROXY, 5000), "headers": [(b"x-forwarded-for", b"127.0.0.1, 198.51.100.7, 10.0.0.9")]}
    assert client_ip(scope) == "198.51.100.7"


def test_it_gives_allauth_the_same_client_address(settings):
    settings.TRUSTED_PROXIES = 1
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="127.0.0.1, 198.51.100.3")
    assert get_adapter(request).get_client_ip(request) == "198.51.100.3"


def test_it_never_opens_metrics_to_a_forged_loopback_address(client, db, settings):
    # nginx on the same host: every request reaches daphne from loopback.
    settings.DEBUG = False
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]  # a scraper on this host, listed by the operator
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1, 203.0.113.9").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_it_needs_the_metrics_token_from_every_address_unless_some_are_listed():
    assert settings_in_a_fresh_process("METRICS_ALLOWED_IPS", unset=["METRICS_ALLOWED_IPS"]) == "[]"


def settings_in_a_fresh_process(name, unset=(), **env):
    """A setting's value as a process started with the environment's defaults sees it."""
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k not in unset and not k.endswith("_FILE")}
    environment.update(DJANGO_SETTINGS_MODULE="interviewer.settings", **env)
    code = f"from django.conf import settings; print(repr(settings.{name}))"
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# ----- 7. Safe defaults -----


def test_it_runs_with_debug_off_unless_told_otherwise():
    assert settings_in_a_fresh_process("DEBUG", unset=["DEBUG"]) == "False"


@pytest.mark.parametrize(
    "debug, hosts, refused",
    [(False, ["127.0.0.1", "localhost"], True), (True, ["interviewer.example.com"], True), (True, ["*"], True), (True, ["127.0.0.1", "localhost", "testserver"], False)],
    ids=["debug off", "public host", "any host", "local development"],
)  # fmt: skip
def test_it_refuses_the_development_key_unless_debugging_on_this_machine_only(settings, debug, hosts, refused):
    settings.DEBUG = debug
    settings.ALLOWED_HOSTS = hosts
    settings.SECRET_KEY = "dev-only-insecure-key-change-me"
    assert ("interviewer.E002" in {m.id for m in run_checks()}) is refused


def test_it_checks_the_deploy_settings_before_each_release():
    procfile = (Path(__file__).resolve().parent.parent / "Procfile").read_text()
    release = next(line for line in procfile.splitlines() if line.startswith("release:"))
    assert release.split(":", 1)[1].strip().startswith("python manage.py check --deploy --fail-level WARNING && ")


# ----- 8. Deleting deletes -----


def test_it_deletes_an_interviews_recordings_uploads_and_speech_and_no_one_elses(
    owner_client, owner, other, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    doomed, doomed_files = interview_with_files(owner, "DOOMED", monkeypatch)
    _, my_other_files = interview_with_files(owner, "KEPT", monkeypatch)
    _, their_files = interview_with_files(other, "THEIRS", monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("delete_interview", args=[doomed.id]))

    assert response.status_code == 302
    assert not Interview.objects.filter(pk=doomed.pk).exists()
    assert [path for path in doomed_files if path.exists()] == []
    assert not media(f"uploads/{doomed.id}").exists() and not media(f"tts/{doomed.id}").exists()
    assert all(path.exists() for path in my_other_files + their_files)


def test_it_deletes_every_file_of_a_deleted_account_and_no_one_elses(
    owner_client, owner, other, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    mine = [interview_with_files(owner, marker, monkeypatch) for marker in ("ONE", "TWO")]
    _, their_files = interview_with_files(other, "THEIRS", monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("delete_account"), {"confirm": "owner@example.com"})

    assert not get_user_model().objects.filter(pk=owner.pk).exists()
    for interview, files in mine:
        assert [path for path in files if path.exists()] == []
        assert not media(f"uploads/{interview.id}").exists() and not media(f"tts/{interview.id}").exists()
    assert all(path.exists() for path in their_files)


def test_it_never_serves_or_reports_another_interviews_cached_speech(owner, other, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = str(tmp_path)
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    mine, theirs = make_interview(owner), make_interview(other)
    sentence = "So you led the Initech migration with Jane Smith?"
    first = queue_sentence(mine.id, sentence, 1.0, 0, 0)
    media(first.result["path"]).parent.mkdir(parents=True)
    media(first.result["path"]).write_bytes(b"RIFF....")  # as the tts worker would

    again = queue_sentence(mine.id, sentence, 1.0, 2, 0)
    probe = queue_sentence(theirs.id, sentence, 1.0, 0, 0)

    assert again.status == "completed" and again.result["cached"] is True  # the same interview's repeat
    assert probe.status == "queued" and "cached" not in probe.result
    assert probe.result["path"] != first.result["path"]


def test_it_closes_the_sockets_of_a_deleted_interview(owner_client, owner, django_capture_on_commit_callbacks):
    interview = make_interview(owner)
    sockets = SocketCloses(owner.pk)

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("delete_interview", args=[interview.id]))

    assert sockets.next() == {"type": "sockets.close", "interview": str(interview.id), "code": 4410}


def test_it_closes_every_socket_of_a_deleted_account_as_deleted(owner_client, owner, django_capture_on_commit_callbacks):
    make_interview(owner)
    sockets = SocketCloses(owner.pk)

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("delete_account"), {"confirm": "owner@example.com"})

    # "deleted", not "logged out" first: the page can say what happened.
    assert sockets.next() == {"type": "sockets.close", "interview": None, "code": 4410}


@pytest.mark.django_db(transaction=True)
async def test_it_closes_an_open_interview_socket_when_the_interview_is_deleted(owner, quiet_turns):
    interview = await database_sync_to_async(make_interview)(owner)
    kept = await database_sync_to_async(make_interview)(owner)
    doomed_socket, kept_socket = socket(f"/ws/interviews/{interview.id}/", owner), socket(f"/ws/interviews/{kept.id}/", owner)
    for comm in (doomed_socket, kept_socket):
        assert (await comm.connect())[0]
        assert (await comm.receive_json_from(timeout=5))["event"] == "sync"

    def delete():
        client = Client()
        client.force_login(owner)
        return client.post(reverse("delete_interview", args=[interview.id])).status_code

    assert await database_sync_to_async(delete)() == 302

    assert (await doomed_socket.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4410}
    assert await kept_socket.receive_nothing(timeout=0.5)  # the other interview's socket stays open
    await kept_socket.disconnect()
    await doomed_socket.disconnect()


def test_it_closes_every_socket_of_a_user_who_logs_out(owner_client, owner):
    sockets = SocketCloses(owner.pk)

    owner_client.post(reverse("account_logout"))

    assert sockets.next() == {"type": "sockets.close", "interview": None, "code": 4401}


# ----- 9. Sign-up reveals nothing -----

_CSRF = re.compile(r'(name="csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]+')
SIGNUP_PASSWORD = "Plum-Orchard-Lantern-42"


def _someone():
    return Client(REMOTE_ADDR=f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}")


def test_it_answers_a_sign_up_the_same_for_a_new_and_a_known_address(db, settings):
    # Two emails to one address within seconds; the per-address email limit is another test's.
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "confirm_email": None}
    address = f"candidate-{secrets.token_hex(4)}@example.com"
    answers = []
    for _ in ("new", "known"):
        client = _someone()
        response = client.post(
            reverse("account_signup"), {"email": address, "password1": SIGNUP_PASSWORD, "password2": SIGNUP_PASSWORD}
        )
        page = client.get(response.url) if response.status_code == 302 else response
        answers.append((response.status_code, response.get("Location"), page.status_code, _CSRF.sub(r"\1…", page.content.decode())))
        assert "_auth_user_id" not in client.session

    assert answers[0] == answers[1]
    assert get_user_model().objects.filter(email__iexact=address).count() == 1
    confirmation, already = mail.outbox
    assert confirmation.to == already.to == [address]
    assert "/accounts/confirm-email/" in confirmation.body
    assert "already exists" in already.body and "/accounts/confirm-email/" not in already.body


def test_it_emails_a_known_address_at_most_once_for_a_burst_of_sign_ups(db):
    # An address of this test's own: the per-address counter lives in the cache.
    address = f"known-{secrets.token_hex(4)}@example.com"
    get_user_model().objects.create_user(address.split("@")[0], address, SIGNUP_PASSWORD)
    for _ in range(5):
        _someone().post(reverse("account_signup"), {"email": address, "password1": SIGNUP_PASSWORD, "password2": SIGNUP_PASSWORD})

    assert [m.to for m in mail.outbox] == [[address]]
    assert get_user_model().objects.filter(email__iexact=address).count() == 1


def test_it_limits_sign_ups_per_client_address_over_an_hour(db, monkeypatch):
    clock = ShiftedClock()
    monkeypatch.setattr(allauth_ratelimit, "time", clock)
    hostile = _someone()
    # Mismatched passwords: cheap to check, and each still counts as a sign-up attempt.
    attempt = {"email": "x@example.com", "password1": "a-Long-passphrase-42", "password2": "different-42"}
    statuses = []
    for minute in range(12):  # ten a minute, always under the per-minute limit
        clock.offset = minute * 61
        statuses += [hostile.post(reverse("account_signup"), attempt).status_code for _ in range(10)]

    assert 429 in statuses
    refused_from = statuses.index(429)
    assert set(statuses[:refused_from]) == {200} and set(statuses[refused_from:]) == {429}
    assert b"going a bit fast" in hostile.post(reverse("account_signup"), attempt).content
    assert _someone().post(reverse("account_signup"), attempt).status_code == 200  # another address is not held up


# ----- 10. No amplification -----


def reported(owner, summary_status):
    """A finished interview whose report is in `summary_status`."""
    from tests.factories import answered

    interview = answered(owner)
    interview.add_interviewer_turn(Turn.Kind.CLOSING, "Thank you, that's all.")
    Interview.objects.filter(pk=interview.pk).update(summary_status=summary_status)
    return interview


@pytest.mark.parametrize("status, rebuilt", [("ready", False), ("pending", False), ("building", False), ("error", True), ("none", True)])
def test_it_rebuilds_only_a_failed_or_missing_report(owner_client, owner, monkeypatch, status, rebuilt):
    queued = []
    monkeypatch.setattr("interviews.turns.enqueue_report", queued.append)
    interview = reported(owner, status)
    response = owner_client.post(reverse("rebuild_report", args=[interview.id]))
    assert response.status_code == 302
    interview.refresh_from_db()
    assert interview.summary_status == ("pending" if rebuilt else status)
    assert queued == ([interview.id] if rebuilt else [])


def test_it_rate_limits_rebuilding_a_report(owner_client, owner, monkeypatch, settings):
    settings.RATE_LIMIT_REPORTS = "2/h"
    queued = []
    monkeypatch.setattr("interviews.turns.enqueue_report", queued.append)
    interview = reported(owner, "error")
    codes = []
    for _ in range(3):
        Interview.objects.filter(pk=interview.pk).update(summary_status="error")  # as if each build failed
        codes.append(owner_client.post(reverse("rebuild_report", args=[interview.id])).status_code)
    assert codes == [302, 302, 429]
    assert len(queued) == 2


@pytest.mark.django_db(transaction=True)
async def test_it_counts_socket_retries_against_the_retry_limit(owner, quiet_turns, settings):
    settings.RATE_LIMIT_RETRIES = "2/m"
    interview = await database_sync_to_async(make_interview)(owner)
    await database_sync_to_async(ask)(interview, "Why?", Turn.Kind.INTRODUCTION)
    comm = socket(f"/ws/interviews/{interview.id}/", owner)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from())["event"] == "sync"
    for _ in range(3):
        await comm.send_json_to({"type": "retry"})
    reply = await comm.receive_json_from(timeout=3)
    assert reply["event"] == "error" and "going a bit fast" in reply["message"]
    assert quiet_turns == ["run_interviewer_turn", "run_interviewer_turn"]
    await comm.disconnect()


class RunawayModel:
    """A chat model whose reply goes on and on: about 1,000 characters a chunk, 100 KB in all."""

    def __init__(self):
        self.chunks_read = 0

    def astream(self, messages):
        return self._stream()

    async def _stream(self):
        from langchain_core.messages import AIMessageChunk

        usage = {"input_tokens": 0, "output_tokens": 250, "total_tokens": 250}
        yield AIMessageChunk(content="ACTION: introduce\nTOPICS: intro\nWHY: start\n---\n", usage_metadata=usage)
        for _ in range(100):
            self.chunks_read += 1
            yield AIMessageChunk(content="Tell me about a project you led. " * 30, usage_metadata=usage)


def runaway_engine(monkeypatch):
    from interviews.engine.llm import LLMEngine

    model = RunawayModel()
    monkeypatch.setattr("interviews.turns.get_engine", lambda: LLMEngine("fake:runaway", model=model))
    return model


@pytest.mark.django_db(transaction=True)
async def test_it_cuts_a_runaway_model_turn_and_keeps_what_fits(owner, monkeypatch, settings):
    from interviews import turns

    settings.INTERVIEW_TURN_MAX_CHARS = 1500
    model = runaway_engine(monkeypatch)
    interview = await database_sync_to_async(make_interview)(owner)
    turn = await turns.run_interviewer_turn(interview.id)
    assert turn is not None and turn.text.startswith("Tell me about a project you led.")
    assert 1400 < len(turn.text) <= 1500
    assert model.chunks_read <= 2, "the model's stream was read past the limit"
    interview = await Interview.objects.aget(pk=interview.id)
    assert interview.tokens_out >= 500  # what was read is still counted


@pytest.mark.django_db(transaction=True)
async def test_it_cuts_a_local_turn_at_the_limit_too(owner, monkeypatch, settings):
    from interviews import turns
    from interviews.engine.local import LocalEngine

    settings.INTERVIEW_TURN_MAX_CHARS = 40
    settings.INTERVIEW_LOCAL_STREAM_DELAY = 0
    monkeypatch.setattr("interviews.turns.get_engine", lambda: LocalEngine())
    interview = await database_sync_to_async(make_interview)(owner)
    turn = await turns.run_interviewer_turn(interview.id)
    assert turn is not None and 0 < len(turn.text) <= 40  # the introduction is several sentences long


@pytest.mark.django_db(transaction=True)
async def test_it_speaks_at_most_the_sentence_limit_of_a_turn(owner, monkeypatch, settings):
    import uuid
    from types import SimpleNamespace

    from interviews import turns

    settings.INTERVIEW_TURN_MAX_SENTENCES = 3
    runaway_engine(monkeypatch)
    queued = []
    monkeypatch.setattr("interviews.turns.queue_sentence", lambda *a, **kw: queued.append(a) or SimpleNamespace(id=uuid.uuid4()))
    interview = await database_sync_to_async(make_interview)(owner, speak_questions=True)
    turn = await turns.run_interviewer_turn(interview.id)
    assert turn.text.count("Tell me about a project you led.") > 10  # the text is kept in full
    assert len(queued) == 3


# ----- 11. Exports are inert -----


HOSTILE_MARKDOWN = (
    "[x](javascript:alert(1)) <img src=x onerror=alert(1)> ![](http://evil/track.png) <http://evil> "
    "http://evil/bare www.evil.example me@evil.example `code` **bold** &lt;b&gt;\n"
    "# Heading\n    indented code\n1. item\n| a | b |\n|---|---|\n```\nfence\n```\n==="
)


def test_it_exports_hostile_text_as_inert_markdown(owner_client, owner):
    """Rendered by GitHub's own Markdown engine, with raw HTML allowed: the only
    links are the product's resources, and nothing else becomes markup."""
    import re

    import cmarkgfm
    from cmarkgfm.cmark import Options

    from interviews.engine.resources import RESOURCES

    interview = make_interview(owner, job_role="Dev [x](javascript:alert(1))", company="<img src=x onerror=alert(1)>", job_description=HOSTILE_MARKDOWN)
    ask(interview, "Question? " + HOSTILE_MARKDOWN, Turn.Kind.INTRODUCTION)
    answer = interview.accept_answer(HOSTILE_MARKDOWN, 0)
    scores = {"relevance": {"score": 3, "evidence": HOSTILE_MARKDOWN, "note": HOSTILE_MARKDOWN}}
    Feedback.objects.create(turn=answer, status=Feedback.Status.READY, scores=scores, text=HOSTILE_MARKDOWN)
    interview.add_interviewer_turn(Turn.Kind.CLOSING, HOSTILE_MARKDOWN)
    real = RESOURCES[0]
    summary = {
        "overall": 50,
        "dimensions": {"relevance": 3.0},
        "patterns": HOSTILE_MARKDOWN,
        "strengths": [HOSTILE_MARKDOWN],
        "focus_areas": [{"area": HOSTILE_MARKDOWN, "why": HOSTILE_MARKDOWN, "next_steps": [HOSTILE_MARKDOWN]}],
        "jd_terms": {"covered": ["<img src=x onerror=alert(1)>"], "missed": ["[x](javascript:alert(1))"]},
        "resources": [
            {"title": real["title"], "url": real["url"], "why": HOSTILE_MARKDOWN},
            {"title": "Forged", "url": "javascript:alert(1)", "why": "not ours"},
            {"title": "Forged too", "url": "http://evil/", "why": "not ours"},
        ],
    }
    Interview.objects.filter(pk=interview.pk).update(summary=summary, summary_status="ready")
    text = owner_client.get(reverse("report_download", args=[interview.id, "md"])).content.decode()
    html = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    assert re.findall(r"<a\b[^>]*>", html) == [f'<a href="{real["url"]}">']
    for tag in ["<img", "<script", "<code", "<pre", "<table", "<ol", "<em", "<b>"]:
        assert tag not in html, tag
    # Only the report's own structure: one title, seven sections, a question and a focus area, one quote.
    counts = {tag: html.count(tag) for tag in ["<h1", "<h2", "<h3", "<blockquote", "<strong"]}
    assert counts == {"<h1": 1, "<h2": 7, "<h3": 2, "<blockquote": 1, "<strong": 1}
    assert "[x](javascript:alert(1))" in html and "&lt;img src=x onerror=alert(1)&gt;" in html  # shown as text


# ----- 12. Small ones, each a clear error -----


@pytest.mark.parametrize("speed", [float("nan"), float("inf"), float("-inf")])
def test_it_speaks_a_sentence_at_normal_speed_when_the_speed_is_not_a_number(interview, speed):
    from speech.tts import queue_sentence

    task = queue_sentence(interview.id, "Tell me more.", speed, 0, 0)
    assert task.result["speed"] == 1.0


def test_it_shows_readyz_worker_counts_but_no_host_names(client, db, owner, monkeypatch):
    from types import SimpleNamespace

    from django_q.conf import Conf

    stat = SimpleNamespace(cluster_id="c0ffee", host="worker-7.internal.example", status=Conf.IDLE, workers=[1, 2], timestamp=None)
    monkeypatch.setattr("django_q.status.Stat.get_all", staticmethod(lambda: [stat]))
    for user in (None, owner):
        if user:
            client.force_login(user)
        response = client.get("/readyz")
        assert response.status_code == 200 and response.json()["checks"]["workers"]["running"] == 1
        assert b"worker-7" not in response.content and b"c0ffee" not in response.content


def test_it_sends_the_admin_login_through_allauth(client, staff):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=staff, email=staff.email, verified=True, primary=True)
    # The admin's own form would check the password with none of allauth's limits: it is gone.
    response = client.post(reverse("admin:login"), {"username": "staff", "password": "correct-horse-9"})
    assert response.status_code == 405 and "_auth_user_id" not in client.session
    response = client.get(reverse("admin:login") + "?next=/admin/interviews/")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login") + "?next=%2Fadmin%2Finterviews%2F"
    signed_in = client.post(response["Location"], {"login": staff.email, "password": "correct-horse-9"})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/interviews/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_it_refuses_a_speech_speed_that_is_not_a_finite_number(owner_client, interview, value):
    before = snapshot()
    response = owner_client.post(reverse("voice_settings", args=[interview.id]), {"speak_questions": "on", "speech_speed": value})
    assert response.status_code == 400 and "speech speed must be a number" in response.content.decode()
    assert snapshot() == before


def test_it_needs_change_permission_for_the_admins_export_actions(client, owner):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from tests.factories import answered

    User = get_user_model()
    interview = answered(owner, answers=["A private answer."])
    viewer = User.objects.create_user("viewer", "viewer@example.com", "correct-horse-9", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_interview", f"view_{User._meta.model_name}"]))
    client.force_login(viewer)
    before = snapshot()
    user_changelist = f"admin:{User._meta.app_label}_{User._meta.model_name}_changelist"
    for changelist, pk, action in [
        ("admin:interviews_interview_changelist", interview.pk, "export_json"),
        ("admin:interviews_interview_changelist", interview.pk, "mark_abandoned"),
        (user_changelist, owner.pk, "export_users"),
    ]:
        assert client.get(reverse(changelist)).status_code == 200  # viewing is allowed
        response = client.post(reverse(changelist), {"action": action, "_selected_action": [pk]})
        assert response["Content-Type"].startswith("text/html"), action  # the list again, not a download
        assert b"A private answer." not in response.content
    assert snapshot() == before
