"""The end of a spoken answer: the transcript's cues, the turn policy on a fake
clock, the smart-turn model on piper recordings, and the microphone socket's
`turn` events (protocol: /work/briefs/v_protocol.md) with the local engine and
with Deepgram's real SDK against the fake Deepgram server."""

import asyncio
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from interviewer.routing import websocket_urlpatterns
from speech import turn_detector
from speech.providers import local_models
from speech.turn_policy import TurnPolicy, cue
from tests.factories import ask, make_interview
from tests.fakes.deepgram import fake_deepgram, results, speech_started  # noqa: F401
from tests.speech_samples import say, silence

FRAME = 3200  # 100 ms of 16 kHz 16-bit mono
FINISHED = "I learned to ask for help earlier."


# -- the transcript's cues ---------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I led the migration of our billing system to Kubernetes.", None),
        ("We cut the deploy time from 40 minutes to 12.", None),  # ends on a number, not on "to"
        ("We moved our reporting to a new warehouse and the hardest part was.", "dangling"),  # Whisper's full stop
        ("The main reason for the delay was the lack of.", "dangling"),
        ("The hardest part was agreeing on a plan, and", "dangling"),
        ("We had three services, the billing one. The...", "dangling"),
        ("First we looked at the logs,", "dangling"),
        ("The reason we chose Postgres was because.", "dangling"),  # Whisper's full stop
        ("I would probably start with the", "dangling"),
        ("So let me think.", "filler"),
        ("That's a good question. Let me think about that for a second.", "filler"),
        ("Um, how do I put it?", "filler"),
        ("I was working on the payments team, um", "filler"),
        ("Give me a moment.", "filler"),
        ("Could you repeat the question?", "question"),
        ("Sorry, what do you mean by scale", "question"),
        ("Do you want me to go into more detail?", "question"),
        ("What did we learn? A lot.", None),
        ("It was the team I worked with.", None),  # left to the model
        ("I think so.", None),
        ("", None),
    ],
)
def test_it_reads_the_end_of_the_transcript(text, expected):
    assert cue(text) == expected


def test_it_reads_only_the_end_of_a_long_transcript():
    assert cue("and " * 10_000 + "that was the result.") is None
    assert cue("We shipped it. " * 10_000 + "and") == "dangling"


# -- the policy on a fake clock ----------------------------------------------


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def policy(clock, **overrides):
    options = {"finished_pause": 0.8, "thinking": 25, "unsure": 4, "ask": 5, "threshold": 0.5} | overrides
    return TurnPolicy(clock, **options)


def answered(p, text="I led the migration.", words=((0.5, 1.0), (1.0, 2.0))):
    p.final(text, list(words))


def test_it_sends_a_finished_answer_the_short_pause_after_the_end_of_speech():
    clock = Clock()
    p = policy(clock)
    answered(p)
    assert p.endpoint(clock.now - 0.6, probability=0.9, cue_found=None) == []
    assert p.deadline == pytest.approx(clock.now + 0.2)
    clock.now += 0.19
    assert p.tick() == []
    clock.now += 0.02
    assert p.tick() == [
        {"event": "turn", "state": "send", "ended_by": "model", "speaking_seconds": 1.5, "thinking_seconds": 0.0}
    ]
    assert p.tick() == [] and p.deadline is None


def test_it_sends_at_once_when_the_final_came_after_the_short_pause():
    clock = Clock()
    p = policy(clock)
    answered(p)
    [message] = p.endpoint(clock.now - 1.2, probability=0.9, cue_found=None)
    assert message["state"] == "send" and message["ended_by"] == "model"


def test_it_keeps_listening_when_the_words_are_unfinished_then_asks_then_sends():
    clock = Clock()
    p = policy(clock)
    answered(p, "We tried caching, and")
    assert p.endpoint(clock.now - 1.0, probability=0.99, cue_found="dangling") == [
        {"event": "turn", "state": "thinking", "ask_in_ms": 24_000}
    ]
    clock.now += 23.9
    assert p.tick() == []
    clock.now += 0.1
    assert p.tick() == [{"event": "turn", "state": "asking", "send_in_ms": 5000}]
    clock.now += 4.9
    assert p.tick() == []
    clock.now += 0.1
    [message] = p.tick()
    assert message["state"] == "send" and message["ended_by"] == "timeout"


def test_when_only_the_model_doubts_a_complete_sounding_answer_it_asks_after_the_short_unsure_wait():
    clock = Clock()
    p = policy(clock)
    answered(p)
    [message] = p.endpoint(clock.now, probability=0.2, cue_found=None)
    assert message == {"event": "turn", "state": "thinking", "ask_in_ms": 4_000}
    clock.now += 4
    assert p.tick() == [{"event": "turn", "state": "asking", "send_in_ms": 5000}]
    clock.now += 5
    [sent] = p.tick()
    assert sent["state"] == "send" and sent["ended_by"] == "timeout"


def test_words_that_sound_unfinished_wait_the_full_thinking_time_whatever_the_model_says():
    clock = Clock()
    p = policy(clock)
    answered(p, "The hardest part was")
    [message] = p.endpoint(clock.now, probability=0.2, cue_found="dangling")
    assert message == {"event": "turn", "state": "thinking", "ask_in_ms": 25_000}


def test_without_an_unsure_wait_the_models_doubt_waits_the_thinking_time():
    clock = Clock()
    p = policy(clock, unsure=None)
    answered(p)
    [message] = p.endpoint(clock.now, probability=0.2, cue_found=None)
    assert message == {"event": "turn", "state": "thinking", "ask_in_ms": 25_000}


def test_it_answers_a_question_back_to_the_interviewer_whatever_the_model_says():
    clock = Clock()
    p = policy(clock)
    answered(p, "Could you repeat the question?")
    [message] = p.endpoint(clock.now - 1, probability=0.01, cue_found="question")
    assert message["state"] == "send"


def test_it_decides_on_the_words_alone_without_the_model():
    clock = Clock()
    p = policy(clock)
    answered(p)
    assert p.endpoint(clock.now - 1, probability=None, cue_found=None)[0]["state"] == "send"
    p = policy(clock)
    answered(p, "So let me think.")
    assert p.endpoint(clock.now - 1, probability=None, cue_found="filler")[0]["state"] == "thinking"


def test_speech_cancels_the_countdown_and_the_next_endpoint_decides_on_the_whole_answer():
    clock = Clock()
    p = policy(clock, thinking=2, ask=3)
    answered(p, "So let me think.")
    p.endpoint(clock.now, probability=0.9, cue_found="filler")
    clock.now += 2
    assert p.tick()[0]["state"] == "asking"
    clock.now += 1
    assert p.speech_started() == [{"event": "turn", "state": "listening"}]
    clock.now += 10
    assert p.tick() == [] and p.deadline is None  # no send while speaking
    assert p.final("I would cache the reads.", [(13.0, 15.0)]) == []
    assert p.text == "So let me think. I would cache the reads."
    [message] = p.endpoint(clock.now - 1, probability=0.9, cue_found=None)
    assert message["state"] == "send" and message["ended_by"] == "model"


def test_a_partial_cancels_a_wait_too():
    clock = Clock()
    p = policy(clock)
    answered(p)
    p.endpoint(clock.now, probability=0.9, cue_found=None)
    assert p.heard() == [{"event": "turn", "state": "listening"}]
    clock.now += 5
    assert p.tick() == []


def test_hold_stops_every_send():
    clock = Clock()
    p = policy(clock)
    answered(p)
    p.hold()
    assert p.endpoint(clock.now - 5, probability=0.99, cue_found=None) == []
    clock.now += 100
    assert p.tick() == []
    p = policy(clock)
    answered(p, "and")
    p.endpoint(clock.now, probability=0.99, cue_found="dangling")
    p.hold()
    clock.now += 100
    assert p.tick() == [] and p.deadline is None


def test_it_never_sends_an_answer_without_words():
    clock = Clock()
    p = policy(clock)
    assert not p.wants_decision()
    assert p.endpoint(clock.now - 5, probability=0.99, cue_found=None) == []
    assert p.deadline is None


def test_a_speech_start_that_brings_no_words_lets_the_decision_stand_after_the_grace():
    clock = Clock()
    p = policy(clock, restart_grace=3)
    answered(p)
    p.endpoint(clock.now, probability=0.9, cue_found=None)
    assert p.speech_started() == [{"event": "turn", "state": "listening"}]
    clock.now += 2.9
    assert p.tick() == []
    clock.now += 0.1
    assert p.tick()[0]["state"] == "send"
    # With words after the start, the grace is over: no send until an endpoint.
    p = policy(clock, restart_grace=3)
    answered(p)
    p.endpoint(clock.now, probability=0.9, cue_found=None)
    p.speech_started()
    p.heard()
    clock.now += 10
    assert p.tick() == [] and p.wants_decision()


def test_it_counts_speaking_and_thinking_seconds_from_the_word_times():
    p = policy(Clock())
    assert p.seconds() == (0.0, 0.0)
    # Leading silence (before 2.0) is not thinking; a 0.5 s gap is speaking.
    p.final("First half", [(2.0, 2.5), (3.0, 4.0)])
    p.final("second half.", [(11.5, 12.0), (12.1, 13.25)])
    assert p.seconds() == (3.75, 7.5)


# -- the model ----------------------------------------------------------------


def _pipecat_features_module():
    # Loaded from its file: importing the pipecat package has side effects.
    root = importlib.util.find_spec("pipecat").submodule_search_locations[0]
    spec = importlib.util.spec_from_file_location(
        "pipecat_whisper_features", os.path.join(root, "audio/turn/smart_turn/_whisper_features.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_feeds_the_model_the_same_features_as_pipecat():
    samples = np.frombuffer(say(FINISHED) + silence(0.2), dtype="<i2").astype(np.float32) / 32768
    ours = turn_detector.features(samples)[0]
    padded = np.pad(samples, (turn_detector.MODEL_SAMPLES - len(samples), 0))
    theirs = _pipecat_features_module().compute_whisper_log_mel_features(padded, do_normalize=True)
    assert ours.shape == theirs.shape == (80, 800)
    assert np.abs(ours - theirs).max() < 1e-4


def test_the_model_hears_a_finished_and_an_unfinished_answer():
    finished = turn_detector.probability(say(FINISHED) + silence(0.2))
    unfinished = turn_detector.probability(say("We tried a few things, like caching, and") + silence(0.2))
    assert finished > 0.9 > 0.1 > unfinished


def test_it_loads_the_model_without_importing_pipecat():
    code = (
        "import django, os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'; django.setup();"
        "from speech import turn_detector; turn_detector.load();"
        "print('pipecat' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
    assert os.path.exists(local_models.smart_turn_path())


def test_recent_audio_keeps_the_last_seconds_of_the_stream():
    audio = turn_detector.RecentAudio(seconds=1)  # 16,000 samples
    stream = np.arange(40_000, dtype="<i2")
    for i in range(0, len(stream), 1500):
        audio.append(stream[i : i + 1500].tobytes())
    assert audio.total == 40_000 and audio.seconds == 2.5
    assert np.frombuffer(audio.until(40_000), "<i2").tolist() == stream[24_000:].tolist()
    assert np.frombuffer(audio.until(30_000), "<i2").tolist() == stream[24_000:30_000].tolist()
    assert audio.until(10_000) == b""  # no longer held
    audio.append(np.arange(20_000, dtype="<i2").tobytes())  # more than it holds, at once
    assert np.frombuffer(audio.until(60_000), "<i2").tolist() == list(range(4_000, 20_000))


# -- the socket -----------------------------------------------------------------

app = URLRouter(websocket_urlpatterns)


@pytest.fixture
def turn_settings(settings):
    settings.RATE_LIMITS_ENABLED = False
    settings.SPEECH_LIVE_FALLBACK = "none"
    settings.SPEECH_LIVE_STT = "local"
    settings.SPEECH_TURN_FINISHED_PAUSE_MS = 800
    settings.SPEECH_TURN_THINKING_SECONDS = 25
    settings.SPEECH_TURN_UNSURE_SECONDS = 4
    settings.SPEECH_TURN_ASK_SECONDS = 5
    return settings


@pytest.fixture
def interview(owner):
    interview = make_interview(owner)
    ask(interview, "Tell me about a time you asked for help.")
    return interview


class Mic:
    """The page's side of the speech socket: streams PCM in real time (or
    `speed` times faster) in the background and records every event.

    A reader task takes the socket's messages: a timed-out receive on the
    communicator would cancel the consumer."""

    def __init__(self, comm):
        self.comm = comm
        self.events = []
        self.streaming = None
        self.sent_seconds = 0.0
        self.inbox = asyncio.Queue()
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, interview, user):
        comm = WebsocketCommunicator(app, f"/ws/interviews/{interview.id}/speech/")
        comm.scope["user"] = user
        assert (await comm.connect())[0]
        mic = cls(comm)
        assert (await mic.next(timeout=30))["event"] == "ready"
        return mic

    async def _read(self):
        while True:
            self.inbox.put_nowait(await self.comm.receive_json_from(timeout=3600))

    def play(self, pcm, speed=1.0):
        previous = self.streaming

        async def stream():
            if previous is not None:
                await previous
            for i in range(0, len(pcm), FRAME):
                await self.comm.send_to(bytes_data=pcm[i : i + FRAME])
                self.sent_seconds += len(pcm[i : i + FRAME]) / 32_000
                await asyncio.sleep(0.1 / speed)

        self.streaming = asyncio.ensure_future(stream())
        return self.streaming

    def stop_playing(self):
        if self.streaming is not None:
            self.streaming.cancel()
        self.streaming = None

    async def next(self, timeout=30):
        try:
            message = await asyncio.wait_for(self.inbox.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"nothing more after {self.events}") from None
        self.events.append(message)
        return message

    async def until(self, predicate, timeout=40):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"not seen in {self.events}")
            message = await self.next(timeout=left)
            if predicate(message):
                return message

    async def quiet_for(self, seconds):
        """Events during `seconds` (the test's view of "nothing happens")."""
        seen = []
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                seen.append(await self.next(timeout=left))
            except AssertionError:
                break
        return seen

    def turns(self):
        return [m for m in self.events if m["event"] == "turn"]

    def text(self):
        return " ".join(m["text"] for m in self.events if m["event"] == "final")

    async def close(self):
        self.stop_playing()
        await self.comm.send_to(text_data='{"type": "finish"}')
        closed = await self.until(lambda m: m["event"] == "closed")
        self.reader.cancel()
        await self.comm.disconnect()
        return closed


@pytest.fixture(scope="module", autouse=True)
def warm_models():
    """Loaded before the socket tests start their clocks (a server warms up at start)."""
    turn_detector.load()
    local_models.get_whisper()
    say(FINISHED)


def is_turn(state):
    return lambda m: m["event"] == "turn" and m["state"] == state


def words_in(text):
    return set("".join(c for c in text.lower() if c.isalpha() or c.isspace()).split())


@pytest.mark.django_db(transaction=True)
@pytest.mark.real_background
async def test_a_finished_answer_is_sent_by_the_model_within_the_short_wait(owner, interview, turn_settings):
    mic = await Mic.open(interview, owner)
    speech = silence(0.5) + say(FINISHED)
    mic.play(speech + silence(3.0))
    sent = await mic.until(is_turn("send"))
    after_speech = mic.sent_seconds - len(speech) / 32_000
    assert sent["ended_by"] == "model"
    assert [m["state"] for m in mic.turns()] == ["send"]
    assert "help" in mic.text().lower()
    # Sent before the 3 s of silence ran out: the short wait, not a timer.
    assert after_speech < 3.0, after_speech
    print(f"end of speech -> send: {after_speech:.2f} s of stream")
    assert 1.0 < sent["speaking_seconds"] < 4.0 and sent["thinking_seconds"] == 0.0
    finals = [i for i, m in enumerate(mic.events) if m["event"] == "final"]
    assert finals and finals[-1] < mic.events.index(sent)
    closed = await mic.close()
    assert closed["speaking_seconds"] == sent["speaking_seconds"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.real_background
async def test_a_ten_second_pause_mid_sentence_is_thinking_and_both_halves_join_one_answer(
    owner, interview, turn_settings
):
    mic = await Mic.open(interview, owner)
    # Piper says a trailing "and" like a full stop and Whisper often drops it:
    # "and then we" stays unfinished in both the words and the voice.
    first, second = "When the database fell over, we moved the reads to a replica, and then we", "fixed the index."
    mic.play(silence(0.3) + say(first))
    mic.play(silence(10.0), speed=2)  # 10 s of stream in 5 s
    thinking = await mic.until(is_turn("thinking"))
    assert thinking["ask_in_ms"] > 15_000
    await mic.streaming
    mic.play(say(second) + silence(3.0))
    sent = await mic.until(is_turn("send"))
    states = [m["state"] for m in mic.turns()]
    assert states == ["thinking", "listening", "send"], states
    assert {"replica", "index"} <= words_in(mic.text())
    assert sent["ended_by"] == "model"
    assert sent["thinking_seconds"] > 8
    await mic.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.real_background
async def test_let_me_think_then_silence_is_thinking_then_asking_then_sent_by_timeout(owner, interview, turn_settings):
    # Room for a slow Whisper final on a busy machine before the wait is over.
    turn_settings.SPEECH_TURN_THINKING_SECONDS = 6
    turn_settings.SPEECH_TURN_ASK_SECONDS = 1.5
    mic = await Mic.open(interview, owner)
    mic.play(silence(0.3) + say("That's a good question. Let me think.") + silence(12.0))
    thinking = await mic.until(is_turn("thinking"))
    assert 0 < thinking["ask_in_ms"] <= 6000
    asking = await mic.until(is_turn("asking"))
    assert asking["send_in_ms"] == 1500
    sent = await mic.until(is_turn("send"))
    assert sent["ended_by"] == "timeout"
    assert [m["state"] for m in mic.turns()] == ["thinking", "asking", "send"]
    await mic.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.real_background
async def test_speech_during_the_countdown_cancels_it_and_nothing_is_sent_until_the_new_end(
    owner, interview, turn_settings
):
    turn_settings.SPEECH_TURN_THINKING_SECONDS = 1
    turn_settings.SPEECH_TURN_ASK_SECONDS = 4
    mic = await Mic.open(interview, owner)
    mic.play(silence(0.3) + say("Give me a second.") + silence(30.0))
    await mic.until(is_turn("asking"))
    mic.stop_playing()
    mic.play(say("I would split the monolith into three services.") + silence(3.0))
    await mic.until(is_turn("listening"))
    sent = await mic.until(is_turn("send"))
    sent_at = mic.events.index(sent)
    last_final = max(i for i, m in enumerate(mic.events) if m["event"] == "final")
    assert last_final < sent_at
    assert "monolith" in mic.text().lower() or "services" in mic.text().lower()
    assert [m["state"] for m in mic.turns()][-2:] == ["listening", "send"]
    await mic.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.real_background
async def test_hold_stops_the_auto_send_but_not_the_microphone(owner, interview, turn_settings):
    mic = await Mic.open(interview, owner)
    await mic.comm.send_to(text_data='{"type":"hold"}')
    mic.play(silence(0.3) + say(FINISHED) + silence(3.0))
    await mic.until(lambda m: m["event"] == "final")
    seen = await mic.quiet_for(2.5)
    assert not [m for m in seen if m["event"] == "turn"]
    assert not [m for m in seen if m["event"] == "error"]
    closed = await mic.close()
    assert closed["speaking_seconds"] > 1.0 and "help" in mic.text().lower()


@pytest.mark.django_db(transaction=True)
@pytest.mark.real_background
async def test_deepgram_endpoints_drive_the_same_decisions(owner, interview, turn_settings, fake_deepgram):
    turn_settings.SPEECH_LIVE_STT = "deepgram"
    speech = say(FINISHED)
    seconds = len(speech) / 32_000
    # Deepgram's speech_final comes after its endpointing (500 ms) of silence.
    fake_deepgram.after_bytes(FRAME, speech_started(0.05), results("I learned", is_final=False))
    fake_deepgram.after_bytes(
        len(speech) + 16_000,
        results(FINISHED, is_final=True, speech_final=True, words=_spread(FINISHED, 0.1, seconds - 0.05)),
    )
    mic = await Mic.open(interview, owner)
    mic.play(speech + silence(3.0))
    sent = await mic.until(is_turn("send"), timeout=20)
    assert sent["ended_by"] == "model"
    assert mic.sent_seconds - seconds < 2.5
    assert [m["state"] for m in mic.turns()] == ["send"]
    assert "pause" not in {m["event"] for m in mic.events} and "endpoint" not in {m["event"] for m in mic.events}
    await mic.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.real_background
async def test_deepgram_unfinished_words_keep_listening_and_its_speech_started_cancels(
    owner, interview, turn_settings, fake_deepgram
):
    turn_settings.SPEECH_LIVE_STT = "deepgram"
    first = "We moved the reads to a replica and"
    speech = say(first)
    seconds = len(speech) / 32_000
    fake_deepgram.after_bytes(
        len(speech) + 16_000,
        results(first, is_final=True, speech_final=True, words=_spread(first, 0.1, seconds - 0.05)),
    )
    fake_deepgram.after_bytes(len(speech) + 64_000, speech_started(seconds + 2.0), results("then we", is_final=False))
    mic = await Mic.open(interview, owner)
    mic.play(speech + silence(4.0))
    thinking = await mic.until(is_turn("thinking"), timeout=20)
    assert thinking["ask_in_ms"] > 20_000
    await mic.until(is_turn("listening"), timeout=20)
    seen = await mic.quiet_for(1.5)
    assert not [m for m in seen if m["event"] == "turn"]
    await mic.close()


def _spread(text, start, end):
    words = text.split()
    step = (end - start) / len(words)
    return [(w, start + i * step, start + (i + 1) * step) for i, w in enumerate(words)]
