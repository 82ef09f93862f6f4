"""A recruiter-screen interview, end to end, in Chromium against the real app."""

import re

import pytest
from playwright.sync_api import expect

from interviews.engine import questions as bank
from tests.browser.test_text_interview import TURN_TIMEOUT, answer_current_question, sign_up, wait_for_report

pytestmark = pytest.mark.browser

SCREEN_ANSWERS = [
    "I'm a ward nurse at St Mary's with six years on surgical wards, and I want to move into a bigger teaching hospital.",
    "My notice period is four weeks, so I could start at the beginning of March.",
    "I'm looking for around 38,000 pounds a year, depending on the shift pattern and the package.",
    "Because your hospital runs the trauma unit I trained in, and I want to work with that team again.",
]


def screening_questions(company):
    return [q.text.format(role="Registered Nurse", company_or_us=company) for q in bank.SCREEN]


def test_it_runs_a_recruiter_screen_and_shows_the_type(page, app_server):
    sign_up(page, app_server)
    page.get_by_role("link", name="New interview").first.click()
    expect(page.get_by_role("heading", name="New interview")).to_be_visible()
    expect(page.locator("input[name=interview_type][value=mixed]")).to_be_checked()
    page.locator("#id_job_role").fill("Registered Nurse")
    page.locator("#id_company").fill("St Mary's")
    page.locator("input[name=interview_type][value=screen]").check()
    page.locator("input[name=length_mode][value=questions]").check()
    page.locator("#id_question_count").fill("3")
    page.locator("input[name=mode][value=practice]").check()
    page.locator("fieldset", has_text="Interview type").screenshot(path="/tmp/c2_new_interview_types.png")
    page.get_by_role("button", name="Start interview").click()

    expect(page).to_have_url(re.compile(r"/interviews/[0-9a-f-]{36}/$"))
    expect(page.locator("#interview-type")).to_have_text("Recruiter screen interview")
    expect(page.locator("#turn-0")).to_contain_text("recruiter screen", timeout=TURN_TIMEOUT)
    expect(page.locator("#answer")).to_be_visible(timeout=TURN_TIMEOUT)
    page.screenshot(path="/tmp/c2_screen_room.png", full_page=True)

    over, sent = False, 0
    while not over:
        assert sent < 10, "the screen did not close"
        answer_index, over = answer_current_question(page, SCREEN_ANSWERS[sent % len(SCREEN_ANSWERS)])
        sent += 1
        feedback = page.locator(f"#feedback-{answer_index} .feedback")
        expect(feedback).to_be_visible(timeout=TURN_TIMEOUT)

    interviewer_said = page.locator("#conversation .interviewer").all_inner_texts()
    asked = [q for q in screening_questions("St Mary's") if any(q in said for said in interviewer_said)]
    assert asked, f"no screening question was asked: {interviewer_said}"
    # A short factual answer to a screening question is judged as one, not as a missing STAR story.
    expect(page.locator(".feedback", has_text="no STAR story needed").first).to_be_visible()

    page.locator("#answer-area").get_by_role("link", name="See your report").click()
    wait_for_report(page)
    expect(page.locator("#interview-type")).to_have_text("Recruiter screen interview")
    expect(page.locator("body")).to_contain_text(asked[0])
    page.screenshot(path="/tmp/c2_screen_report.png", full_page=True)

    page.get_by_role("link", name="My interviews").click()
    expect(page.locator("table.list tbody tr").first).to_contain_text("Recruiter screen")
