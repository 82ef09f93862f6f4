"""Hostile input across forms, uploads and sockets: each gets a clear answer
(an error the candidate can act on, a 404, a close code) and changes nothing
that is stored."""

import io
import zipfile

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from interviewer.routing import websocket_urlpatterns
from interviews.models import Feedback, Interview, Turn
from speech.models import SpeechTask
from tests.factories import ask, make_interview

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200 + b"This program cannot be run in DOS mode."


def snapshot():
    """Everything a hostile request could change."""
    return (
        list(Interview.objects.order_by("id").values_list("id", "job_role", "company", "status", "generation_error", "resume")),
        list(Turn.objects.order_by("id").values_list("id", "index", "text", "source", "speaking_seconds")),
        list(SpeechTask.objects.values_list("id", "status")),
        Feedback.objects.count(),
    )


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
    monkeypatch.setattr("speech.providers.get_live_transcriber", lambda **kw: transcriber)
    interview = await database_sync_to_async(make_interview)(owner)
    comm = socket(f"/ws/interviews/{interview.id}/speech/", owner)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from(timeout=5))["event"] == "ready"
    await comm.send_to(**frame)
    reply = await comm.receive_json_from(timeout=3)
    assert reply["event"] == "error" and message in reply["message"], case
    assert transcriber.audio == []
    await comm.disconnect()


def test_it_refuses_posts_without_a_csrf_token(owner, interview):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    before = snapshot()
    assert client.post(reverse("upload_answer_audio", args=[interview.id]), {"audio": upload("a.wav", b"RIFF")}).status_code == 403
    assert snapshot() == before


# ===== Resource isolation (issue 9). Each numbered section is its item. =====

# ----- 1. The event loop never runs the engine's CPU work -----


# ----- 2. Résumé parsing is bounded -----


# ----- 3. Live-transcription slots cannot be hoarded -----


# ----- 4. Uploaded audio's length is what it decodes to -----


# ----- 5. Oversized request bodies are refused early -----


# ----- 6. The client address is trustworthy behind a proxy -----


# ----- 7. Safe defaults -----


# ----- 8. Deleting deletes -----


# ----- 9. Sign-up reveals nothing -----


# ----- 10. No amplification -----


# ----- 11. Exports are inert -----


# ----- 12. Small ones, each a clear error -----
