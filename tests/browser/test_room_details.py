"""Small things in the room a candidate notices: Replay on a spoken turn (also
after a reload, and for nobody else), no empty band above a bubble's label, and
a microphone icon that needs no emoji font.

This module runs its own copy of the app with the `tts` worker cluster (piper,
offline), so the interviewer's turns really are spoken.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM, _missing
from tests.browser.test_text_interview import ANSWERS, answer_current_question, last_turn_index, sign_up, start_interview
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser

TURN_TIMEOUT = 40_000  # ms: a turn, and the worker synthesising its sentences
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/interviewer-screenshots"))

# Before the page's scripts: every play() of a media element, and when each one ended.
MEDIA_PROBE = """
(() => {
  const log = (window.__media = []);
  const watched = new WeakSet();
  const original = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    log.push({ type: "play", src: this.src || "" });
    if (!watched.has(this)) {
      watched.add(this);
      for (const type of ["ended", "error"]) this.addEventListener(type, () => log.push({ type, src: this.currentSrc || this.src }));
    }
    return original.apply(this, arguments);
  };
})();
"""


@pytest.fixture(scope="module")
def app_server():
    """The app with the speech-synthesis workers, for this module only."""
    if not os.path.exists(CHROMIUM):
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    server = LiveServer(clusters=("default", "tts"))
    server.start()
    yield server
    server.stop()


def path_of(url):
    return re.sub(r"^https?://[^/]+", "", url)


def played(page):
    return [(e["type"], path_of(e["src"])) for e in page.evaluate("() => window.__media") if "/speech/tasks/" in e["src"]]


def test_it_replays_a_spoken_turn_in_order_even_after_a_reload(new_context, app_server):
    context = new_context()
    context.add_init_script(MEDIA_PROBE)
    page = context.new_page()
    sign_up(page, app_server)
    start_interview(page, questions=3)
    first = last_turn_index(page)
    # Written before "Speak questions aloud" was on: nothing to replay.
    expect(page.locator(f"#turn-{first} button.replay")).to_have_count(0)

    with page.expect_response(lambda r: r.url.endswith("/voice/") and r.request.method == "POST"):
        page.locator("#speak-questions").check()
    answer_index, over = answer_current_question(page, ANSWERS[0])
    assert not over
    spoken = page.locator(f"#turn-{answer_index + 1}")
    expect(spoken.get_by_role("button", name="Replay")).to_be_visible(timeout=TURN_TIMEOUT)
    expect(page.locator(f"#turn-{answer_index} button.replay")).to_have_count(0)  # the candidate's own answer

    # After a reload the page knows the turn's audio from the server alone.
    page.reload()
    expect(page.locator(f"#turn-{answer_index + 1}").get_by_role("button", name="Replay")).to_be_visible(timeout=TURN_TIMEOUT)
    replay = page.locator(f"#turn-{answer_index + 1} button.replay")  # its label changes while it plays
    urls = replay.get_attribute("data-replay").split()
    assert urls and all(re.fullmatch(r"/speech/tasks/[0-9a-f-]{36}/audio", u) for u in urls), urls

    page.evaluate("() => { window.__media.length = 0; }")
    with page.expect_response(lambda r: path_of(r.url) == urls[0]) as first_audio:
        replay.click()
    assert first_audio.value.status in (200, 206)
    assert first_audio.value.headers["content-type"].startswith("audio/")
    expect(replay).to_have_attribute("data-playing", "")
    expect(replay).to_have_text(re.compile("Stop"))
    # Every sentence plays, in order, each after the one before has ended; then the button is itself again.
    page.wait_for_function(
        f"() => window.__media.filter(e => e.type === 'ended' && e.src.endsWith({urls[-1]!r})).length > 0",
        timeout=TURN_TIMEOUT,
        polling=100,
    )
    log = played(page)
    assert [src for kind, src in log if kind == "play"] == urls, log
    assert [src for kind, src in log if kind == "ended"] == urls, log
    expect(replay).not_to_have_attribute("data-playing", "")
    expect(replay).to_have_text(re.compile("Replay"))

    # Another candidate cannot fetch this interview's audio.
    outsider = new_context().new_page()
    sign_up(outsider, app_server)
    assert outsider.request.get(app_server.url + urls[0]).status == 404


def test_the_room_has_no_band_above_labels_and_draws_its_microphone_icon(new_context, app_server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, options in {
        "desktop": {"viewport": {"width": 1280, "height": 900}},
        "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2},
    }.items():
        page = new_context(**options).new_page()
        sign_up(page, app_server)
        start_interview(page, questions=3)
        with page.expect_response(lambda r: r.url.endswith("/voice/") and r.request.method == "POST"):
            page.locator("#speak-questions").check()
        answer_index, _ = answer_current_question(page, ANSWERS[1])
        expect(page.locator(f"#turn-{answer_index + 1} button.replay")).to_be_visible(timeout=TURN_TIMEOUT)
        page.screenshot(path=str(SCREENSHOTS / f"room-{name}.png"), full_page=True)
        for bubble in page.locator("#conversation .bubble").all():
            # The label is the first thing in the bubble: no empty line above it.
            gap = bubble.evaluate(
                """b => b.querySelector('.who').getBoundingClientRect().top - b.getBoundingClientRect().top
                       - parseFloat(getComputedStyle(b).paddingTop) - parseFloat(getComputedStyle(b).borderTopWidth)"""
            )
            assert abs(gap) <= 1, f"{name}: {gap}px above the label of {bubble.get_attribute('id')}"
        mic = page.locator("#answer-form [data-mic=start]")
        assert mic.locator("svg").count() == 1
        assert "🎤" not in mic.evaluate("b => b.textContent")
