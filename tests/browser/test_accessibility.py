"""axe-core, in Chromium, over the main pages: no serious or critical violations.

axe-playwright-python bundles axe-core and injects it into the page, which the
app's Content-Security-Policy (script-src 'self') would refuse; the test's
browser context bypasses the CSP, the app's headers stay as they are.
"""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
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

FAILING_IMPACTS = ("serious", "critical")


def serious_violations(page):
    """axe-core's serious and critical violations on the page, one line each (rule, impact, nodes)."""
    results = Axe().run(page)
    lines = []
    for violation in results.response["violations"]:
        if violation["impact"] in FAILING_IMPACTS:
            nodes = "; ".join(" ".join(n["target"]) if isinstance(n["target"], list) else str(n["target"]) for n in violation["nodes"][:5])
            lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {nodes}")
    return lines


def check(page, where, found):
    page.wait_for_load_state("load")
    for line in serious_violations(page):
        found.append(f"{where}: {line}")


@pytest.fixture
def axe_page(new_context):
    return new_context(bypass_csp=True).new_page()


def test_the_main_pages_have_no_serious_accessibility_violations(axe_page, app_server):
    page = axe_page
    found = []

    page.goto("/")
    check(page, "home", found)
    page.goto("/accounts/signup/")
    check(page, "sign-up", found)
    page.goto("/accounts/login/")
    check(page, "login", found)

    sign_up(page, app_server)
    # Signed in after confirming: the dashboard shows the green success message.
    expect(page.locator(".message.success").first).to_be_visible()
    check(page, "dashboard with a success message", found)

    page.get_by_role("link", name="New interview").first.click()
    expect(page.get_by_role("heading", name="New interview")).to_be_visible()
    check(page, "new interview", found)
    page.goto("/interviews/")

    start_interview(page, questions=3)
    check(page, "room", found)
    answer_index, over = answer_current_question(page, ANSWERS[0])
    assert not over
    expect(page.locator(f"#feedback-{answer_index} .feedback")).to_be_visible(timeout=TURN_TIMEOUT)
    check(page, "room with feedback", found)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End interview").click()
    wait_for_report(page)
    check(page, "report", found)

    page.goto("/interviews/")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    check(page, "dashboard with an interview", found)

    page.get_by_role("link", name="Profile").click()
    expect(page).to_have_url(re.compile(r"/profile/?$"))
    check(page, "profile", found)

    assert not found, "axe-core found serious or critical violations:\n" + "\n".join(found)


def test_it_reports_a_serious_violation_when_there_is_one(axe_page, app_server):
    # The check itself must be able to fail: a page with an unnamed progress bar.
    page = axe_page
    page.goto("/")
    page.evaluate(
        """() => {
          const bar = document.createElement("div");
          bar.setAttribute("role", "progressbar");
          bar.setAttribute("aria-valuenow", "50");
          document.querySelector("main").appendChild(bar);
        }"""
    )
    assert any(line.startswith("aria-progressbar-name") for line in serious_violations(page))
