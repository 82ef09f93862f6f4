import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from interviewer.routing import websocket_urlpatterns
from interviews import turns
from interviews.models import Turn
from tests.factories import ask, make_interview
from tests.scripted_engine import ScriptedEngine

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_background]

app = URLRouter(websocket_urlpatterns)


@pytest.fixture
def engine(monkeypatch):
    engine = ScriptedEngine()
    monkeypatch.setattr(turns, "get_engine", lambda: engine)
    return engine


def communicator(interview_id, user):
    comm = WebsocketCommunicator(app, f"/ws/interviews/{interview_id}/")
    comm.scope["user"] = user
    return comm


async def receive_until(comm, event, limit=50):
    seen = []
    for _ in range(limit):
        message = await comm.receive_json_from(timeout=3)
        seen.append(message)
        if message["event"] == event:
            return seen
    raise AssertionError(f"no {event} in {seen}")


async def test_it_syncs_the_room_and_starts_the_first_turn_for_the_owner(owner, engine):
    interview = await database_sync_to_async(make_interview)(owner)
    comm = communicator(interview.id, owner)
    connected, _ = await comm.connect()
    assert connected
    sync = await comm.receive_json_from()
    assert sync["event"] == "sync" and 'id="answer-area"' in sync["answer_area"]
    events = await receive_until(comm, "turn.done")
    assert [e["event"] for e in events][0] == "turn.started"
    assert "Question number 1" in events[-1]["turn"]
    await comm.disconnect()


async def test_it_shows_every_tab_the_same_stream(owner, engine):
    interview = await database_sync_to_async(make_interview)(owner)
    await database_sync_to_async(ask)(interview, "First?", Turn.Kind.INTRODUCTION)
    tabs = [communicator(interview.id, owner) for _ in range(2)]
    for tab in tabs:
        assert (await tab.connect())[0]
        assert (await tab.receive_json_from())["event"] == "sync"
    answer = await database_sync_to_async(interview.accept_answer)("Because.", 0)
    await turns.after_answer(interview.id, answer.id)
    for tab in tabs:
        events = await receive_until(tab, "turn.done")
        assert "".join(e["text"] for e in events if e["event"] == "turn.token") == "Question number 2 for Backend Engineer?"
        await tab.disconnect()


async def test_it_closes_the_socket_for_another_user(owner, other, engine):
    interview = await database_sync_to_async(make_interview)(owner)
    comm = communicator(interview.id, other)
    connected, code = await comm.connect()
    assert not connected and code == 4404
    assert engine.calls == []


async def test_it_closes_the_socket_for_anonymous_visitors(owner, engine):
    interview = await database_sync_to_async(make_interview)(owner)
    comm = communicator(interview.id, AnonymousUser())
    connected, code = await comm.connect()
    assert not connected and code == 4401


async def test_it_answers_bad_frames_with_an_error_and_stays_open(owner, engine):
    interview = await database_sync_to_async(make_interview)(owner)
    await database_sync_to_async(ask)(interview, "First?", Turn.Kind.INTRODUCTION)
    comm = communicator(interview.id, owner)
    await comm.connect()
    await comm.receive_json_from()
    for frame in ["not json", '{"type": "drop tables"}', "x" * 5000]:
        await comm.send_to(text_data=frame)
        assert (await comm.receive_json_from())["event"] == "error"
    await comm.send_to(bytes_data=b"\x00\x01")
    assert (await comm.receive_json_from())["event"] == "error"
    await comm.send_json_to({"type": "ping"})
    assert (await comm.receive_json_from())["event"] == "pong"
    await comm.disconnect()


async def test_it_survives_an_abrupt_disconnect_mid_turn(owner, engine):
    engine.delay = 0.05
    interview = await database_sync_to_async(make_interview)(owner)
    comm = communicator(interview.id, owner)
    await comm.connect()
    await comm.receive_json_from()
    await comm.receive_json_from()  # turn.started
    await comm.disconnect()
    # The turn is finished and saved even though nobody is watching.
    for _ in range(40):
        if await Turn.objects.filter(interview=interview).aexists():
            break
        import asyncio

        await asyncio.sleep(0.05)
    assert await Turn.objects.filter(interview=interview, kind="introduction").acount() == 1


@pytest.mark.parametrize(
    "target, code, closes",
    [("this interview", 4410, True), ("every interview", 4401, True), ("another interview", 4410, False)],
)
async def test_it_closes_when_told_through_the_users_group(owner, engine, target, code, closes):
    """Logout and deletion send sockets.close to "user.<pk>"; only the named interview's sockets (or all) close."""
    import uuid

    from channels.layers import get_channel_layer

    interview = await database_sync_to_async(make_interview)(owner)
    await database_sync_to_async(ask)(interview, "First?", Turn.Kind.INTRODUCTION)
    comm = communicator(interview.id, owner)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from())["event"] == "sync"
    named = {"this interview": str(interview.id), "every interview": None, "another interview": str(uuid.uuid4())}[target]
    await get_channel_layer().group_send(f"user.{owner.pk}", {"type": "sockets.close", "interview": named, "code": code})
    if closes:
        assert await comm.receive_output(timeout=3) == {"type": "websocket.close", "code": code}
    else:
        await comm.send_json_to({"type": "ping"})
        assert await comm.receive_json_from(timeout=3) == {"event": "pong"}
    await comm.disconnect()
