""""A stronger answer, from your own facts", as a candidate sees it: under the
feedback in practice mode, then in the report."""

import os

import pytest
from playwright.sync_api import expect

from tests.browser.test_text_interview import TURN_TIMEOUT, answer_current_question, sign_up, start_interview, wait_for_report

pytestmark = pytest.mark.browser

# A story with a vague cost and no result: the rewrite keeps the candidate's
# sentences and marks what is missing instead of inventing it.
ANSWER = (
    "In my last role our checkout page was slow and it cost us a lot. I was asked to fix it before the spring sale. "
    "I profiled the slowest queries with the team, and I added two indexes and a cache for the product list."
)
SCREENSHOTS = os.environ.get("SCREENSHOT_DIR")


def test_it_shows_the_stronger_answer_with_its_placeholders_in_practice_and_in_the_report(page, app_server):
    sign_up(page, app_server)
    start_interview(page, questions=3)
    answer_index, over = answer_current_question(page, ANSWER)
    assert not over

    rewrite = page.locator(f"#feedback-{answer_index} .rewrite")
    expect(rewrite).to_be_visible(timeout=TURN_TIMEOUT)
    expect(rewrite.get_by_role("heading", name="A stronger answer, from your own facts")).to_be_visible()
    expect(rewrite).to_contain_text("I added two indexes and a cache for the product list.")
    # The vague "a lot" is a visible placeholder, marked apart from the candidate's words.
    gap = rewrite.locator(".rewrite-part mark.placeholder", has_text="[how much, as a number]")
    expect(gap).to_be_visible()
    assert gap.evaluate("e => getComputedStyle(e).borderStyle") == "dashed"
    if SCREENSHOTS:
        rewrite.screenshot(path=os.path.join(SCREENSHOTS, "rewrite-practice.png"))

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End interview").click()
    wait_for_report(page)
    in_report = page.locator("article .rewrite")
    expect(in_report).to_have_count(1)
    expect(in_report).to_contain_text("I added two indexes and a cache for the product list.")
    expect(in_report.locator("mark.placeholder", has_text="[how much, as a number]")).to_be_visible()
    if SCREENSHOTS:
        page.locator("article").first.screenshot(path=os.path.join(SCREENSHOTS, "rewrite-report.png"))
