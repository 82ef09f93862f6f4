"""The room's side of the turn-taking protocol (issue 11), in Chromium, with
the microphone socket played by the test: the page must follow the server's
`turn` decisions (thinking, asking, send), hold when the candidate clicks into
the text, and send "I'm done" with the stream's timing. The recorded-speech,
end-to-end versions are in test_voice_interview.py."""

import json
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.test_text_interview import sign_up, start_interview
from tests.browser.test_voice_interview import record_answer_posts

pytestmark = pytest.mark.browser


class FakeSpeechSocket:
    """Stands in for SpeechConsumer: says `ready` when the page connects, keeps
    what the page sends, and sends what the test tells it to. `closed_reply`,
    if set, answers {"type": "finish"} as the server does."""

    def __init__(self, page):
        self.route = None
        self.messages = []  # the page's JSON messages
        self.frames = 0  # the page's binary PCM frames
        self.closed_reply = None
        page.route_web_socket(re.compile(r"/speech/$"), self._connect)

    def _connect(self, route):
        self.route = route
        route.on_message(self._on_message)
        route.send(json.dumps({"event": "ready"}))

    def _on_message(self, message):
        if isinstance(message, bytes):
            self.frames += 1
            return
        message = json.loads(message)
        self.messages.append(message)
        if message.get("type") == "finish" and self.closed_reply is not None:
            self.route.send(json.dumps({"event": "closed", **self.closed_reply}))

    def send(self, **event):
        self.route.send(json.dumps(event))

    def types(self):
        return [m.get("type") for m in self.messages]


def wait_until(page, condition, what, seconds=10):
    """Let the page and Playwright's loop run until `condition()` holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(50)


@pytest.fixture(scope="module")
def mic_browser(browser):
    """A Chromium with a fake microphone (its test tone): the socket is fake anyway."""
    voiced = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
    )
    yield voiced
    voiced.close()


@pytest.fixture
def room(mic_browser, app_server):
    """A room with the microphone on and streaming to the fake socket:
    (page, socket, POSTed answers, question index)."""
    context = mic_browser.new_context(base_url=app_server.url, permissions=["microphone"])
    context.set_default_timeout(15_000)
    page = context.new_page()
    socket = FakeSpeechSocket(page)
    posts = record_answer_posts(page)
    sign_up(page, app_server)
    start_interview(page, questions=3)
    question = int(page.locator("#conversation [id^='turn-']").last.get_attribute("id").removeprefix("turn-"))
    page.locator("#answer-form [data-mic=start]").click()
    expect(page.locator("#answer-form .mic-state")).to_have_text("Listening — take your time.")
    wait_until(page, lambda: socket.frames > 0, "the page's first audio frame")
    yield page, socket, posts, question
    context.close()


def state(page):
    return page.locator("#answer-form .mic-state")


def final(socket, text, start=0.0, end=1.0):
    socket.send(event="final", text=text, words=[[w, start, end] for w in text.split()[:1]])


def test_it_waits_while_thinking_and_sends_the_whole_answer_when_told(room):
    page, socket, posts, question = room
    final(socket, "We moved our reporting, and the hardest part was")
    socket.send(event="turn", state="thinking", ask_in_ms=25_000)
    expect(state(page)).to_have_text("Still listening — take your time.")
    expect(page.locator("#answer")).to_have_value("We moved our reporting, and the hardest part was")
    # Speech again: the new words join the same answer.
    socket.send(event="speech_started")
    socket.send(event="turn", state="listening")
    socket.send(event="partial", text="getting finance")
    expect(page.locator("#answer")).to_have_value("We moved our reporting, and the hardest part was getting finance")
    final(socket, "getting finance to trust the numbers.")
    assert posts == [] and "finish" not in socket.types()  # nothing is sent until the server says so
    socket.send(event="turn", state="send", ended_by="model", speaking_seconds=6.5, thinking_seconds=9.25)
    answer = page.locator(f"#turn-{question + 1}")
    expect(answer).to_contain_text("the hardest part was getting finance to trust the numbers.", timeout=15_000)
    assert len(posts) == 1, posts
    fields = posts[0][1]
    assert fields["answer"] == "We moved our reporting, and the hardest part was getting finance to trust the numbers."
    assert (fields["source"], fields["ended_by"], fields["speaking_seconds"], fields["thinking_seconds"]) == (
        "live_voice", "model", "6.50", "9.25"
    )
    wait_until(page, lambda: "finish" in socket.types(), "the page to close the stream")


def test_it_shows_the_countdown_and_speech_cancels_it(room):
    page, socket, posts, _ = room
    final(socket, "Let me think about that")
    socket.send(event="turn", state="asking", send_in_ms=5000)
    expect(state(page)).to_have_text("Are you done? Sending in 5s — keep talking to go on.")
    expect(state(page)).to_have_text(re.compile(r"Sending in [34]s"))  # it counts down
    socket.send(event="speech_started")
    expect(state(page)).to_have_text("Listening…")
    page.wait_for_timeout(1500)  # a live countdown would have rewritten the line by now
    expect(state(page)).to_have_text("Listening…")
    assert posts == []


def test_clicking_into_the_text_holds_the_answer_and_keeps_the_edit(room):
    page, socket, posts, question = room
    final(socket, "I led the migraton")
    page.locator("#answer").click()
    wait_until(page, lambda: "hold" in socket.types(), "the page's hold message")
    expect(state(page)).to_contain_text("Edit your answer")
    page.locator("#answer").fill("I led the migration")
    # A decision that crossed the hold is ignored; words still heard join the edit.
    socket.send(event="turn", state="send", ended_by="model", speaking_seconds=2.0, thinking_seconds=0.0)
    socket.send(event="partial", text="of billing")
    final(socket, "of billing.")
    expect(page.locator("#answer")).to_have_value("I led the migration of billing.")
    page.wait_for_timeout(500)
    assert posts == []
    expect(page.locator("#answer-form [data-mic=done]")).to_be_visible()  # the microphone is still on
    socket.closed_reply = {"speaking_seconds": 3.2, "thinking_seconds": 1.5}
    page.locator("#answer-form [data-mic=done]").click()
    expect(page.locator(f"#turn-{question + 1}")).to_contain_text("I led the migration of billing.", timeout=15_000)
    assert len(posts) == 1, posts
    fields = posts[0][1]
    assert (fields["ended_by"], fields["speaking_seconds"], fields["thinking_seconds"]) == ("button", "3.20", "1.50")


def test_im_done_sends_at_once_even_if_the_stream_never_answers(room):
    page, socket, posts, question = room
    final(socket, "We cut costs by a third.")
    page.locator("#answer-form [data-mic=done]").click()  # the fake socket never replies `closed`
    expect(page.locator(f"#turn-{question + 1}")).to_contain_text("We cut costs by a third.", timeout=15_000)
    assert socket.types().count("finish") == 1
    assert len(posts) == 1 and posts[0][1]["ended_by"] == "button" and posts[0][1]["source"] == "live_voice", posts


def test_send_answer_with_the_microphone_on_ends_the_stream_first(room):
    page, socket, posts, question = room
    final(socket, "Because I like hard problems.")
    socket.closed_reply = {"speaking_seconds": 2.0, "thinking_seconds": 0.0}
    page.get_by_role("button", name="Send answer").click()
    expect(page.locator(f"#turn-{question + 1}")).to_contain_text("Because I like hard problems.", timeout=15_000)
    assert socket.types().count("finish") == 1
    assert len(posts) == 1, posts
    assert (posts[0][1]["ended_by"], posts[0][1]["thinking_seconds"]) == ("button", "0.00"), posts
