"""Progress over time and "Drill my weak spots", in Chromium against the real app."""

import os
import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_text_interview import (
    ANSWERS,
    TURN_TIMEOUT,
    answer_current_question,
    assert_no_horizontal_overflow,
    sign_up,
    start_interview,
    wait_for_report,
)

pytestmark = pytest.mark.browser

# Set to a folder to keep screenshots: the dashboard (desktop and phone) and the drill's room.
SCREENSHOTS = os.environ.get("PROGRESS_SCREENSHOTS", "")


def finish_one_answer_interview(page, answer):
    """From the dashboard: start an interview, answer its first question, end it, wait for the report.
    Returns the question asked."""
    start_interview(page, questions=3)
    question = page.locator("#turn-0 .text").inner_text()
    answer_current_question(page, answer)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End interview").click()
    wait_for_report(page)
    page.goto("/interviews/")
    return question


def test_the_dashboard_charts_two_interviews_and_the_drill_targets_the_weak_spots(new_context, app_server):
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_up(page, app_server)
    # A thin answer, then a strong one: the second report scores higher.
    thin_question = finish_one_answer_interview(page, "I did some stuff with things, basically.")
    expect(page.locator("#one-interview")).to_contain_text("finish another to see a trend")
    finish_one_answer_interview(page, ANSWERS[1])

    section = page.locator("#progress")
    expect(section.get_by_role("heading", name="Your progress")).to_be_visible()
    expect(page.locator("#one-interview")).to_have_count(0)
    charts = section.locator("svg[role=img]")
    expect(charts).to_have_count(2)
    expect(charts.nth(0).locator("circle")).to_have_count(2)
    expect(charts.nth(0).locator("polyline")).to_have_count(1)
    expect(charts.nth(1).locator("polyline")).to_have_count(5)
    expect(section.locator("#chart-overall-desc")).to_contain_text("across 2 interviews")
    expect(page.locator("#weakest-dimension")).to_contain_text(re.compile(r"\d\.\d/5 on average over your last 2 interviews"))
    section.locator("summary", has_text="Scores as a table").click()
    expect(section.locator(".scores-table tbody tr")).to_have_count(2)
    assert_no_horizontal_overflow(page, "the dashboard with progress")
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "dashboard-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert_no_horizontal_overflow(page, "the dashboard with progress, on a phone")
    expect(charts.nth(1)).to_be_visible()
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "dashboard-phone.png"), full_page=True)

    section.get_by_role("button", name="Drill my weak spots").click()

    expect(page).to_have_url(re.compile(r"/interviews/[0-9a-f-]{36}/$"))
    expect(page.locator("h1 .badge.drill")).to_have_text("Drill")
    first_turn = page.locator("#turn-0")
    expect(first_turn).to_contain_text("This is a drill on your weak spots", timeout=TURN_TIMEOUT)
    # The thin answer scored lowest: its question comes back first, word for word.
    expect(first_turn).to_contain_text(re.split(r"(?<=[.?!])\s+", thin_question.strip())[-1])
    expect(page.locator("#answer")).to_be_visible(timeout=TURN_TIMEOUT)
    if SCREENSHOTS:
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=os.path.join(SCREENSHOTS, "drill-room-phone.png"))
    page.goto("/interviews/")
    expect(page.locator("table.list tbody tr").first.locator(".badge.drill")).to_be_visible()
