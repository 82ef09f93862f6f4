"""Try this question again, in Chromium against the real app: in the room after
the feedback (practice mode), then in the report and from it."""

import os
import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_text_interview import (
    ANSWERS,
    TURN_TIMEOUT,
    answer_current_question,
    sign_up,
    start_interview,
    wait_for_report,
)

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("RETRY_SCREENSHOTS")  # a folder: save what the test saw, to look at


def shot(page, name):
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)


def test_a_candidate_tries_a_question_again_and_the_report_shows_both_attempts(page, app_server):
    sign_up(page, app_server)
    start_interview(page, questions=3)

    first, _ = answer_current_question(page, "We did some stuff with the database.")
    feedback = page.locator(f"#feedback-{first} .feedback")
    expect(feedback).to_be_visible(timeout=TURN_TIMEOUT)
    next_question = page.locator(f"#turn-{first + 1}")
    expect(next_question).to_be_visible(timeout=TURN_TIMEOUT)
    asked = page.locator(f"#turn-{first - 1}").inner_text()
    shot(page, "room-feedback")

    feedback.get_by_role("button", name="Try this question again").click()

    # The interviewer asks the same question again in place of the next one, and says so.
    expect(next_question).to_contain_text("Let's try that one again", timeout=TURN_TIMEOUT)
    expect(next_question.locator(".who")).to_contain_text("once more")
    expect(page.get_by_role("button", name="Try this question again")).to_have_count(0)
    expect(page.locator("#progress")).to_contain_text("of 3")
    assert asked.split("?")[0][-30:] in next_question.inner_text()

    second, _ = answer_current_question(page, ANSWERS[1])
    expect(page.locator(f"#turn-{second} .who")).to_contain_text("another try")
    expect(page.locator(f"#feedback-{second} .feedback")).to_be_visible(timeout=TURN_TIMEOUT)
    expect(page.locator(f"#turn-{second + 1}")).not_to_contain_text("Let's try that one again")
    shot(page, "room-second-attempt")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End interview").click()
    wait_for_report(page)
    retried = page.locator("article", has=page.locator(".attempts"))
    expect(retried).to_have_count(1)
    expect(retried.locator(".attempts")).to_contain_text("2 attempts")
    expect(retried.locator(".attempts .chip")).to_have_count(5)
    expect(retried.locator("blockquote.candidate").first).to_contain_text(ANSWERS[1][:40])  # the best attempt first
    expect(page.get_by_role("button", name="Try this question again")).to_have_count(0)
    shot(page, "report")

    # From the report: a new practice interview of that one question.
    retried.get_by_role("button", name="Practise this question").click()
    expect(page).to_have_url(re.compile(r"/interviews/[0-9a-f-]{36}/$"))
    expect(page.locator("#turn-0")).to_contain_text(asked.split("?")[0][-30:], timeout=TURN_TIMEOUT)
    expect(page.locator("#progress")).to_contain_text("of 1")
    shot(page, "practice-room")
