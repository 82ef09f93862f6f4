"""The live-transcription socket, with the local engine and with Deepgram's
real SDK against the fake Deepgram server."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from interviewer.routing import websocket_urlpatterns
from interviews import microphone
from lib.caps import get_cap, user_stream_cap
from tests.factories import ask, make_interview
from tests.fakes.deepgram import fake_deepgram, results, speech_started, utterance_end  # noqa: F401
from tests.speech_samples import say, silence

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_background]

app = URLRouter(websocket_urlpatterns)
FRAME = 3200  # 100 ms of 16 kHz 16-bit mono


@pytest.fixture(autouse=True)
def roomy_limits(settings):
    settings.RATE_LIMITS_ENABLED = False
    settings.SPEECH_LIVE_FALLBACK = "none"


@pytest.fixture
def interview(owner):
    interview = make_interview(owner)
    ask(interview, "Tell me about a migration you led.")
    return interview


def socket_for(interview_id, user):
    comm = WebsocketCommunicator(app, f"/ws/interviews/{interview_id}/speech/")
    comm.scope["user"] = user
    return comm


async def events_until(comm, wanted, timeout=20):
    seen = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError(f"no {wanted} in {seen}")
        message = await comm.receive_json_from(timeout=left)
        seen.append(message)
        if message["event"] == wanted:
            return seen


async def test_it_transcribes_the_owners_speech_live_with_the_local_engine(owner, interview, settings):
    settings.SPEECH_LIVE_STT = "local"
    comm = socket_for(interview.id, owner)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from(timeout=20))["event"] == "ready"
    audio = say("I led the migration of our billing system to Kubernetes.") + silence(1.0)
    for i in range(0, len(audio), FRAME):
        await comm.send_to(bytes_data=audio[i : i + FRAME])
        await asyncio.sleep(0.02)
    seen = await events_until(comm, "final")
    assert "kubernetes" in seen[-1]["text"].lower()
    assert seen[-1]["words"] and seen[-1]["words"][0][1] >= 0
    await comm.send_to(text_data='{"type": "finish"}')
    await events_until(comm, "closed")
    await comm.disconnect()


async def test_it_relays_deepgram_results_through_the_real_sdk(owner, interview, settings, fake_deepgram):
    settings.SPEECH_LIVE_STT = "deepgram"
    fake_deepgram.after_bytes(FRAME, speech_started(0.1), results("I led", is_final=False))
    fake_deepgram.after_bytes(FRAME * 3, results("I led the migration", is_final=True, speech_final=True), utterance_end(1.2))
    comm = socket_for(interview.id, owner)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from(timeout=10))["event"] == "ready"
    for _ in range(4):
        await comm.send_to(bytes_data=b"\x00" * FRAME)
    seen = await events_until(comm, "utterance_end")
    kinds = [m["event"] for m in seen]
    assert kinds.index("speech_started") < kinds.index("partial") < kinds.index("final")
    assert [m for m in seen if m["event"] == "final"][0]["text"] == "I led the migration"
    assert fake_deepgram.connections[0].query["encoding"] == "linear16"
    assert len(fake_deepgram.connections[0].audio) >= FRAME * 3
    await comm.disconnect()


async def test_it_tells_the_page_when_deepgram_drops_the_stream(owner, interview, settings, fake_deepgram):
    settings.SPEECH_LIVE_STT = "deepgram"
    fake_deepgram.drop_after(FRAME)
    comm = socket_for(interview.id, owner)
    await comm.connect()
    await comm.receive_json_from(timeout=10)
    for _ in range(3):
        await comm.send_to(bytes_data=b"\x00" * FRAME)
    seen = await events_until(comm, "closed")
    errors = [m for m in seen if m["event"] == "error"]
    assert errors and errors[0]["message"]
    await comm.disconnect()


async def test_it_closes_the_socket_for_another_user_and_anonymous_visitors(owner, other, interview):
    comm = socket_for(interview.id, other)
    assert await comm.connect() == (False, 4404)
    comm = socket_for(interview.id, AnonymousUser())
    assert await comm.connect() == (False, 4401)


async def test_it_refuses_oversized_and_unsupported_frames_but_keeps_listening(owner, interview, settings):
    settings.SPEECH_LIVE_STT = "local"
    comm = socket_for(interview.id, owner)
    await comm.connect()
    assert (await comm.receive_json_from(timeout=20))["event"] == "ready"
    await comm.send_to(bytes_data=b"\x00" * 40_000)
    assert "too large" in (await comm.receive_json_from())["message"]
    await comm.send_to(text_data="DROP TABLE")
    assert (await comm.receive_json_from())["event"] == "error"
    await comm.send_to(bytes_data=b"\x00" * 333)  # half a sample is carried, not an error
    await comm.send_to(text_data='{"type": "finish"}')
    await events_until(comm, "closed")
    await comm.disconnect()


async def test_it_says_so_when_every_stream_slot_is_taken(owner, interview, settings):
    settings.SPEECH_LIVE_STT = "local"
    settings.CAP_LOCAL_STT_LIVE = 1
    held = await get_cap("local_stt_live").atry_acquire()
    try:
        comm = socket_for(interview.id, owner)
        await comm.connect()
        message = await comm.receive_json_from(timeout=10)
        assert message["event"] == "error" and "busy" in message["message"]
        assert (await comm.receive_output(timeout=5))["type"] == "websocket.close"
    finally:
        await held.arelease()


async def test_it_frees_the_stream_slot_when_the_browser_vanishes(owner, interview, settings):
    settings.SPEECH_LIVE_STT = "local"
    settings.CAP_LOCAL_STT_LIVE = 1
    comm = socket_for(interview.id, owner)
    await comm.connect()
    await comm.receive_json_from(timeout=20)
    assert await get_cap("local_stt_live").ain_use() == 1
    await comm.disconnect()  # no finish, no close frame from the page
    for _ in range(50):
        if await get_cap("local_stt_live").ain_use() == 0:
            break
        await asyncio.sleep(0.05)
    assert await get_cap("local_stt_live").ain_use() == 0


async def test_it_refuses_streams_for_finished_interviews(owner, interview):
    await database_sync_to_async(interview.end_early)()
    comm = socket_for(interview.id, owner)
    assert await comm.connect() == (False, 4404)


async def test_it_refuses_a_second_stream_when_the_users_other_one_does_not_let_go(owner, interview, settings, monkeypatch):
    # E.g. a stream on a process that died: its lease has not lapsed yet.
    settings.SPEECH_LIVE_STT = "local"
    monkeypatch.setattr(microphone, "TAKEOVER_WAIT_SECONDS", 0.3)
    held = await user_stream_cap(owner.pk).atry_acquire()
    try:
        comm = socket_for(interview.id, owner)
        assert (await comm.connect())[0]
        message = await comm.receive_json_from(timeout=10)
        assert message == {"event": "error", "message": microphone.ELSEWHERE_MESSAGE}
        assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4409}
        assert await get_cap("local_stt_live").ain_use() == 0
    finally:
        await held.arelease()
