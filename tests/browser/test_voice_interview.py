"""A candidate's voice answers, end to end, in Chromium against the real app.

This module runs its own copy of the app, with the speech worker clusters
(`stt`, `tts`), and its own Chromium per recording, whose fake microphone
plays a WAV that piper made: the candidate "speaks" an answer, the page
streams it to the live transcriber, submits it when the server's turn
detector says the answer is over (nobody presses anything), and plays the
interviewer's next question, sentence by sentence, from the `tts` workers.
The local engines (Whisper tiny.en, piper, smart-turn) run offline.
"""

import os
import re
import time
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _missing
from tests.browser.test_text_interview import last_turn_index, sign_up, start_interview
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser

# An unfinished-sounding answer is not sent for this long (the default).
THINKING_SECONDS = 25
SPOKEN_ANSWER = (
    "I led the migration of our billing system to Kubernetes "
    "and cut deployment time from two hours to ten minutes."
)
# Words Whisper tiny.en reliably gets right in that sentence ("Kubernetes" it may not).
ANSWER_WORDS = ("migration", "billing", "system", "deployment", "hours", "minutes")
UPLOADED_ANSWER = (
    "I wrote a runbook for our on call rotation and reduced the number of night pages by half."
)
UPLOADED_WORDS = ("runbook", "rotation", "reduced", "number", "night", "pages", "half")
# A thinking pause mid-sentence: the two halves of one answer, 9 s apart.
PAUSED_FIRST = "We moved our reporting to a new warehouse, and the hardest part was"
PAUSED_SECOND = "getting finance to trust the new numbers, so we ran both systems in parallel for a month."
PAUSE_SECONDS = 9.0
FIRST_WORDS = ("reporting", "warehouse", "hardest")
SECOND_WORDS = ("finance", "trust", "numbers", "parallel", "month")

VOICE_TIMEOUT = 40_000  # ms: the spoken answer plays in real time, then the turn detector's wait
TURN_TIMEOUT = 40_000  # ms for an interviewer turn (and its first sentence of audio)
AUDIO_URL = re.compile(r"/speech/tasks/[0-9a-f-]{36}/audio$")

# Recorded in the page before any of its scripts run: every play() of a media
# element, that element's playing/pause/ended/error events, and the sentence
# URLs the room announced ("interviewer:speech", dispatched on #room).
MEDIA_PROBE = """
(() => {
  const log = (window.__media = []);
  const announced = (window.__announced = []);
  const watched = new WeakSet();
  // play() right after `src = …` must report the new src; an event, the one
  // playing (currentSrc, which follows src only once the new one loads).
  const src = (el) => el.currentSrc || el.src || "";
  const original = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    const entry = { type: "play", src: this.src || "", muted: this.muted };
    log.push(entry);
    if (!watched.has(this)) {
      watched.add(this);
      for (const type of ["playing", "pause", "ended", "error"]) {
        this.addEventListener(type, () => log.push({
          type, src: src(this), muted: this.muted, time: this.currentTime, duration: this.duration,
        }));
      }
    }
    const promise = original.apply(this, arguments);
    promise.then(() => { entry.result = "resolved"; }, (err) => { entry.result = String(err); });
    return promise;
  };
  window.addEventListener("interviewer:speech", (e) => announced.push(e.detail.url), true);
})();
"""

# Every distinct value of the answer box while the microphone is on (the
# "I'm done" button shows), sampled each animation frame: proof that text
# appeared live, before the answer was sent.
ANSWER_PROBE = """
(() => {
  const seen = (window.__liveText = []);
  const sample = () => {
    const box = document.getElementById("answer");
    const done = document.querySelector("[data-mic=done]");
    const state = document.querySelector(".mic-state");
    if (box && done && !done.hidden && box.value.trim() && seen[seen.length - 1]?.text !== box.value) {
      seen.push({ text: box.value, state: state ? state.textContent : "" });
    }
    requestAnimationFrame(sample);
  };
  document.addEventListener("DOMContentLoaded", () => requestAnimationFrame(sample));
})();
"""


# Every state line the microphone shows, with the page's clock, in order.
STATE_PROBE = """
(() => {
  const states = (window.__micStates = []);
  const watch = () => {
    const el = document.querySelector(".mic-state");
    const text = el ? el.textContent : "";
    if (text && states[states.length - 1]?.text !== text) states.push({ text, at: performance.now() });
    requestAnimationFrame(watch);
  };
  document.addEventListener("DOMContentLoaded", () => requestAnimationFrame(watch));
})();
"""


# ----- fixtures: this module's app and browser -----


@pytest.fixture(scope="module")
def app_server():
    """The whole app with the speech workers, for this module only (overrides the
    package's app_server, so conftest's new_context and error checks use it)."""
    if not os.path.exists(CHROMIUM):
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    server = LiveServer(env={"SPEECH_TURN_THINKING_SECONDS": str(THINKING_SECONDS)}, clusters=LiveServer.ALL_CLUSTERS)
    server.start()
    assert server.env["HF_HUB_OFFLINE"] == "1", "the speech models must load offline"
    yield server
    server.stop()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Piper's voice as the candidate's: the live answer (what the fake microphone
    plays: 1 s of silence, the answer, then silence long enough for the turn
    detector), the paused answer (the same, with a 9 s pause mid-sentence) and
    an uploaded one. "speech_ends": seconds from the start of each live file
    to the end of its last word."""
    from speech.audio import pcm_to_wav
    from tests.speech_samples import BYTES_PER_SECOND, say, silence

    folder = tmp_path_factory.mktemp("voice")
    live = folder / "live-answer.wav"
    live_pcm = silence(1.0) + say(SPOKEN_ANSWER)
    live.write_bytes(pcm_to_wav(live_pcm + silence(8.0), 16_000))
    paused = folder / "paused-answer.wav"
    paused_pcm = silence(1.0) + say(PAUSED_FIRST) + silence(PAUSE_SECONDS) + say(PAUSED_SECOND)
    paused.write_bytes(pcm_to_wav(paused_pcm + silence(12.0), 16_000))
    uploaded = folder / "uploaded-answer.wav"
    uploaded.write_bytes(pcm_to_wav(silence(0.5) + say(UPLOADED_ANSWER) + silence(0.5), 16_000))
    ends = {"live": len(live_pcm) / BYTES_PER_SECOND, "paused": len(paused_pcm) / BYTES_PER_SECOND}
    return {"live": live, "paused": paused, "uploaded": uploaded, "speech_ends": ends}


def launch_with_microphone(browser, wav):
    """Another Chromium (same Playwright) whose microphone plays `wav` once
    ("%noloop": silence after it) and which may play audio without a gesture."""
    return browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )


def open_page(voiced, app_server):
    context = voiced.new_context(base_url=app_server.url, permissions=["microphone"])
    context.set_default_timeout(15_000)
    context.add_init_script(MEDIA_PROBE)
    context.add_init_script(ANSWER_PROBE)
    context.add_init_script(STATE_PROBE)
    return context, context.new_page()


@pytest.fixture(scope="module")
def voice_browser(browser, recordings):
    voiced = launch_with_microphone(browser, recordings["live"])
    yield voiced
    voiced.close()


@pytest.fixture
def voice_page(voice_browser, app_server):
    context, page = open_page(voice_browser, app_server)
    yield page
    context.close()


@pytest.fixture
def fresh_voice_page(browser, recordings, app_server, request):
    """A page in a Chromium of its own, whose microphone plays the recording
    named by the test's parametrisation ("live" or "paused") from its start."""
    voiced = launch_with_microphone(browser, recordings[request.param])
    context, page = open_page(voiced, app_server)
    yield page
    context.close()
    voiced.close()


# ----- helpers -----


def turn_on_speaking(page):
    """Tick "Speak questions aloud"; the page saves it at once."""
    box = page.locator("#speak-questions")
    expect(box).not_to_be_checked()
    with page.expect_response(lambda r: r.url.endswith("/voice/") and r.request.method == "POST") as saved:
        box.check()
    assert saved.value.status == 204


def warm_up_live_transcriber(page):
    """Open (and close) a live-transcription socket as the page would, so the
    server has loaded Whisper before the fake microphone starts playing:
    Chromium plays the file from the first getUserMedia on, ready or not."""
    event = page.evaluate(
        """() => new Promise((resolve) => {
          const room = document.getElementById("room");
          const socket = new WebSocket("ws://" + location.host + room.dataset.speechPath);
          const timer = setTimeout(() => { socket.close(); resolve("timeout"); }, 30000);
          socket.onmessage = (e) => {
            const msg = JSON.parse(e.data);
            if (msg.event === "ready" || msg.event === "error") {
              clearTimeout(timer);
              socket.send(JSON.stringify({ type: "finish" }));
              socket.close();
              resolve(msg.event === "ready" ? "ready" : msg.message);
            }
          };
          socket.onclose = () => { clearTimeout(timer); resolve("closed"); };
        })"""
    )
    assert event == "ready", f"the live transcriber did not start: {event}"


def record_answer_posts(page):
    """Every answer the page POSTs, as (monotonic time, form fields), as it is sent."""
    posts = []

    def on_request(request):
        if request.method == "POST" and re.search(r"/interviews/[0-9a-f-]{36}/answer/$", request.url):
            fields = {k: v[0] for k, v in parse_qs(request.post_data or "", keep_blank_values=True).items()}
            posts.append((time.monotonic(), fields))

    page.on("request", on_request)
    return posts


def words_heard(text, words):
    text = text.lower()
    return [w for w in words if w in text]


def task_audio(url):
    match = AUDIO_URL.search(url)
    return match.group(0) if match else None


class KnownBugs:
    """App bugs this module checks for but does not fail on: their symptoms are
    collected, the rest of the test runs on, and then the test is marked xfail
    naming them. Once fixed, the symptom is gone and the test passes as usual."""

    def __init__(self):
        self.found = []

    def note(self, summary, detail=""):
        self.found.append(f"{summary} {detail}".strip())

    def xfail_if_any(self):
        if self.found:
            pytest.xfail("known app bug(s): " + " | ".join(self.found))


def check_hidden(locator, what, bugs):
    """speech.js hides controls with the `hidden` attribute; the page must honour it."""
    expect(locator).to_have_attribute("hidden", "")
    if locator.is_visible():
        bugs.note(
            f"{what} shows although it has the `hidden` attribute:",
            "static/css/app.css gives .btn/.actions a `display`, which overrides [hidden] "
            "(add `[hidden] { display: none !important; }`).",
        )


# ----- tests -----


def test_it_answers_a_question_by_voice_and_speaks_the_next_question(voice_page, app_server):
    page = voice_page
    bugs = KnownBugs()
    audio_responses = []

    def on_response(response):
        if task_audio(response.url):
            audio_responses.append((task_audio(response.url), response.status, response.headers.get("content-type", "")))

    page.on("response", on_response)
    posts = record_answer_posts(page)

    sign_up(page, app_server)
    start_interview(page, questions=3)
    question = last_turn_index(page)
    # The first question was already written (and not spoken); the next ones will be.
    turn_on_speaking(page)
    warm_up_live_transcriber(page)

    start = page.locator("#answer-form [data-mic=start]")
    done = page.locator("#answer-form [data-mic=done]")
    state = page.locator("#answer-form .mic-state")
    expect(start).to_be_visible()
    check_hidden(done, "“I’m done”, before the microphone is on,", bugs)

    # Answer by voice: the fake microphone plays 1 s of silence, then the answer.
    start.click()
    expect(done).to_be_visible()
    check_hidden(start, "“Answer by voice”, while the microphone is on,", bugs)
    expect(state).to_contain_text("Listening", timeout=VOICE_TIMEOUT)

    # Live text in the answer box while the microphone is still on…
    page.wait_for_function("() => window.__liveText.length > 0", timeout=VOICE_TIMEOUT, polling=100)
    expect(page.locator(f"#turn-{question + 1}")).to_have_count(0)

    # …then, the answer sounding finished, the turn detector sends it: no
    # countdown, nobody presses anything.
    answer = page.locator(f"#turn-{question + 1}")
    expect(answer).to_have_class(re.compile(r"\bcandidate\b"), timeout=VOICE_TIMEOUT)
    expect(done).to_have_attribute("hidden", "")
    assert len(posts) == 1 and posts[0][1]["ended_by"] == "model", posts
    assert posts[0][1]["source"] == "live_voice" and float(posts[0][1]["speaking_seconds"]) > 1, posts
    states = [s["text"] for s in page.evaluate("() => window.__micStates")]
    assert not [s for s in states if "Are you done" in s], f"a finished answer was asked about: {states}"
    expect(answer.locator(".who")).to_have_text("You · live voice")
    spoken = answer.inner_text()
    heard = words_heard(spoken, ANSWER_WORDS)
    assert len(heard) >= 3, f"the answer does not read like what was said: {spoken!r}"

    live = page.evaluate("() => window.__liveText")
    assert len(live) >= 2 and len(live[0]["text"]) < len(live[-1]["text"]), (
        f"the text did not grow in the answer box as the candidate spoke: {live}"
    )

    # The next question is written and spoken: its sentences are fetched and played in order.
    expect(page.locator(f"#turn-{question + 2}")).to_have_class(re.compile(r"\binterviewer\b"), timeout=TURN_TIMEOUT)
    page.wait_for_function(
        """() => window.__media.some(e => e.src.includes('/speech/tasks/') &&
              (e.type === 'ended' || e.type === 'error' || (e.type === 'pause' && e.time < e.duration - 0.05)))""",
        timeout=TURN_TIMEOUT,
        polling=100,
    )
    log = [dict(e, src=task_audio(e["src"])) for e in page.evaluate("() => window.__media") if task_audio(e["src"])]
    announced = [task_audio(url) for url in page.evaluate("() => window.__announced")]
    assert announced, f"the room announced no sentences to speak: {log}"
    assert not [e for e in log if e["type"] == "error"], f"sentence audio failed to play: {log}"
    fetched = {url for url, status, _ in audio_responses if status in (200, 206)}
    assert fetched, f"no sentence audio was fetched: {audio_responses}"
    assert all(kind.startswith("audio/") for _, status, kind in audio_responses if status in (200, 206)), audio_responses
    played = [e["src"] for e in log if e["type"] == "play"]
    assert played and played == announced[: len(played)], f"sentences played out of order: {played} vs {announced}: {log}"
    assert {e["src"] for e in log if e["type"] == "playing"} <= fetched, (log, audio_responses)
    ended = [e["src"] for e in log if e["type"] == "ended"]
    if not ended:
        # Tell the known bug (below) from any other reason for silence.
        muted_plays = {e["src"] for e in log if e["type"] == "play" and e["muted"]}
        assert [e for e in log if e["type"] == "pause" and e["src"] in muted_plays], f"no sentence finished playing: {log}"
        bugs.note(
            "The interviewer's first sentence is paused as it starts and nothing more plays:",
            "in static/js/speech.js `unlock` calls play() on the player with no src, a promise that only settles "
            "once playNext() sets a sentence's src; its finally() then pause()s that sentence while `playing` "
            f"stays true, so `ended` never fires and the queue stalls. Media log: {log}",
        )
    else:
        assert ended[0] == announced[0], (ended, announced)
        if len(announced) > 1:
            # The queue moves on: the next sentence plays when the first has ended.
            page.wait_for_function(
                f"() => window.__media.some(e => e.type === 'playing' && e.src.endsWith({announced[1]!r}))",
                timeout=TURN_TIMEOUT,
                polling=100,
            )

    # The microphone is off again; the answer box is ready for the next answer.
    expect(page.locator("#answer")).to_have_value("")
    expect(page.locator("#answer-form [data-mic=start]")).to_be_visible()
    bugs.xfail_if_any()


def test_it_transcribes_an_uploaded_recording_into_the_answer_box(voice_page, recordings, app_server):
    page = voice_page
    sign_up(page, app_server)
    start_interview(page, questions=3)
    question = last_turn_index(page)

    page.locator("#answer-area summary", has_text="Upload a recorded answer instead").click()
    page.locator("input[type=file][name=audio]").set_input_files(recordings["uploaded"])
    page.locator("#answer-area").get_by_role("button", name="Upload").click()

    status = page.locator("#upload-status")
    expect(status).to_contain_text("Transcribed", timeout=VOICE_TIMEOUT)
    expect(status.get_by_role("progressbar")).to_have_count(0)
    box = page.locator("#answer")
    expect(box).not_to_have_value("")
    transcript = box.input_value()
    heard = words_heard(transcript, UPLOADED_WORDS)
    assert len(heard) >= 4, f"the transcript does not match the recording: {transcript!r}"

    page.get_by_role("button", name="Send answer").click()
    answer = page.locator(f"#turn-{question + 1}")
    expect(answer).to_have_class(re.compile(r"\bcandidate\b"), timeout=TURN_TIMEOUT)
    expect(answer.locator(".who")).to_have_text("You · uploaded audio")
    expect(answer).to_contain_text(transcript[:40])
    expect(page.locator(f"#turn-{question + 2}")).to_be_visible(timeout=TURN_TIMEOUT)


def answer_by_voice_unaided(page, app_server):
    """Sign up, start an interview, turn the microphone on and touch nothing
    more. Returns (question index, when the microphone started, the POSTs)."""
    posts = record_answer_posts(page)
    sign_up(page, app_server)
    start_interview(page, questions=3)
    question = last_turn_index(page)
    warm_up_live_transcriber(page)
    # The fake microphone starts its file when the page opens it, just after
    # the click: timed from the click, a wait is over-estimated, never under.
    started = time.monotonic()
    page.locator("#answer-form [data-mic=start]").click()
    expect(page.locator("#answer-form [data-mic=done]")).to_be_visible()
    expect(page.locator("#answer-form .mic-state")).to_contain_text("Listening", timeout=VOICE_TIMEOUT)
    return question, started, posts


@pytest.mark.parametrize("fresh_voice_page", ["paused"], indirect=True)
def test_a_long_pause_mid_sentence_does_not_cut_the_answer(fresh_voice_page, app_server):
    page = fresh_voice_page
    question, _, posts = answer_by_voice_unaided(page, app_server)
    answer = page.locator(f"#turn-{question + 1}")
    expect(answer).to_have_class(re.compile(r"\bcandidate\b"), timeout=60_000)
    spoken = answer.inner_text()
    seen = {"posts": posts, "states": page.evaluate("() => window.__micStates")}
    assert len(words_heard(spoken, FIRST_WORDS)) >= 2, f"the first half is missing: {spoken!r} {seen}"
    assert len(words_heard(spoken, SECOND_WORDS)) >= 3, f"the half after the pause is missing: {spoken!r} {seen}"
    # One answer, sent by the turn detector; the next turn is the interviewer's.
    expect(page.locator(f"#turn-{question + 2}")).to_have_class(re.compile(r"\binterviewer\b"), timeout=TURN_TIMEOUT)
    assert len(posts) == 1, f"the answer was sent {len(posts)} times: {posts}"
    fields = posts[0][1]
    assert fields["ended_by"] == "model" and fields["source"] == "live_voice", fields
    # The pause is thinking time, not speaking time.
    assert float(fields["thinking_seconds"]) >= PAUSE_SECONDS - 1.5, fields
    assert float(fields["speaking_seconds"]) < 15, fields
    states = [s["text"] for s in page.evaluate("() => window.__micStates")]
    assert "Still listening — take your time." in states, f"the pause was not shown as thinking: {states}"
    assert page.locator(".bubble.candidate").count() == 1


@pytest.mark.parametrize("fresh_voice_page", ["live"], indirect=True)
def test_a_finished_answer_is_sent_after_a_short_wait_without_pressing_anything(fresh_voice_page, app_server, recordings):
    page = fresh_voice_page
    question, started, posts = answer_by_voice_unaided(page, app_server)
    answer = page.locator(f"#turn-{question + 1}")
    expect(answer).to_have_class(re.compile(r"\bcandidate\b"), timeout=VOICE_TIMEOUT)
    assert len(posts) == 1 and posts[0][1]["ended_by"] == "model", posts
    waited = posts[0][0] - started - recordings["speech_ends"]["live"]
    print(f"end of speech to answer sent: at most {waited:.2f} s (timed from the click)")
    # Not the unfinished-answer wait, let alone the countdown after it.
    assert waited < THINKING_SECONDS, f"the finished answer waited {waited:.1f} s"
    assert words_heard(answer.inner_text(), ANSWER_WORDS)
