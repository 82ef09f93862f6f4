"""A candidate's text interview, end to end, in Chromium against the real app."""

import re
import secrets
import time

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TURN_TIMEOUT = 30_000  # ms for an interviewer turn to stream in
REPORT_TIMEOUT = 60_000  # ms for the worker to build the report
PASSWORD = "Plum-Orchard-Lantern-42"

JOB_DESCRIPTION = (
    "We are hiring a Software Engineer to build and run our Python and Django services. "
    "You will design REST APIs, work with PostgreSQL and Redis, write automated tests, "
    "review code, and own features from design to production. Experience with AWS, "
    "Docker, CI/CD and mentoring other engineers is a plus."
)

# Realistic typed answers: situation, task, action, result, with numbers.
ANSWERS = [
    "I'm a backend engineer with five years of Python and Django experience. At my current company I lead "
    "a team of three on our payments API. Last year I redesigned our PostgreSQL schema and added Redis caching, "
    "which cut the p95 latency of checkout from 900 ms to 250 ms and reduced failed payments by 18 percent. "
    "I enjoy owning features end to end, from design reviews to production monitoring.",
    "In my last role our nightly billing job started timing out as we grew. I was asked to fix it within two "
    "weeks. I profiled the job, found an N+1 query pattern in the Django ORM, rewrote it with select_related and "
    "batched writes, and added tests plus a CI check for query counts. The job went from 4 hours to 20 minutes "
    "and we have had zero billing incidents in the eight months since.",
    "When two teams disagreed about an API contract, I set up a short design review. My task was to get a "
    "decision before the release. I wrote a one-page proposal comparing both options with data from our logs, "
    "listened to each side, and we agreed on a versioned endpoint. We shipped on time, and the approach became "
    "our template for API changes; support tickets about breaking changes dropped by 30 percent.",
    "A concrete example: I mentored a junior engineer who was struggling with code reviews. I paired with her "
    "twice a week for a month, we wrote a checklist together, and I reviewed her first ten pull requests in "
    "detail. Within three months her pull requests needed half as many review rounds, and she now reviews "
    "code for other new hires herself.",
    "To be specific about my own part: I personally wrote the migration plan, ran the load tests with Locust "
    "at 2,000 requests per second, and led the rollout behind a feature flag. The result was a zero-downtime "
    "migration and a 35 percent lower AWS bill for that service.",
    "I learned to measure before optimising. Since then I always add metrics and a dashboard first, agree on "
    "a target with the team, and only then change code. On my last project that habit saved us about three "
    "weeks of work on the wrong bottleneck.",
]


# ----- helpers: what a candidate does -----


def confirmation_link(server, email, timeout=10):
    """The link in the confirmation email, which the app's console email backend printed in its log."""
    sent = re.compile(re.escape(f"To: {email}") + r"[\s\S]*?(/accounts/confirm-email/[^\s/]+/)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sent.findall(server.logs(tail_chars=200_000))
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no confirmation email to {email} in the app's log")


def sign_up(page, server):
    """Create a new account through the allauth sign-up page, confirm the
    address through the emailed link; land on the dashboard."""
    email = f"candidate-{secrets.token_hex(4)}@example.com"
    page.goto("/accounts/signup/")
    page.locator("#id_email").fill(email)
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Verify your email address")).to_be_visible()
    page.goto(confirmation_link(server, email))
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/interviews/$"))
    expect(page.get_by_role("heading", name="My interviews")).to_be_visible()
    return email


def fill_new_interview(page, questions=3, role="Software Engineer", company="Acme Analytics"):
    """On the new-interview page: role by quick pick, company, job ad, N questions, practice mode."""
    expect(page.get_by_role("heading", name="New interview")).to_be_visible()
    page.wait_for_load_state("load")  # the quick picks work once new_interview.js (deferred) has run
    page.locator(".chip[data-role]", has_text=role).click()
    expect(page.locator("#id_job_role")).to_have_value(role)
    page.locator("#id_company").fill(company)
    page.locator("#id_job_description").fill(JOB_DESCRIPTION)
    page.locator("input[name=length_mode][value=questions]").check()
    page.locator("#id_question_count").fill(str(questions))
    page.locator("input[name=mode][value=practice]").check()


def start_interview(page, questions=3):
    """From the dashboard: New interview, fill the form, start; wait for the interviewer's first turn."""
    page.get_by_role("link", name="New interview").first.click()
    fill_new_interview(page, questions=questions)
    page.get_by_role("button", name="Start interview").click()
    expect(page).to_have_url(re.compile(r"/interviews/[0-9a-f-]{36}/$"))
    expect(page.locator("#turn-0")).to_be_visible(timeout=TURN_TIMEOUT)
    expect(page.locator("#answer")).to_be_visible(timeout=TURN_TIMEOUT)
    expect(page.locator("#progress")).to_contain_text(f"of {questions}")


def turn_ids(page):
    return page.locator("#conversation [id^='turn-']").evaluate_all("els => els.map(e => e.id)")


def last_turn_index(page):
    return max(int(i.removeprefix("turn-")) for i in turn_ids(page))


def answer_current_question(page, text):
    """Type and send an answer; wait for the interviewer's next turn. Returns (answer index, interview over?)."""
    question = last_turn_index(page)
    expect(page.locator(f"#turn-{question}")).to_have_class(re.compile(r"\binterviewer\b"))
    page.locator("#answer").fill(text)
    page.get_by_role("button", name="Send answer").click()
    expect(page.locator(f"#turn-{question + 1}")).to_contain_text(text[:40], timeout=TURN_TIMEOUT)
    expect(page.locator(f"#turn-{question + 2}")).to_be_visible(timeout=TURN_TIMEOUT)
    ended = page.locator("#answer-area").get_by_text("This interview has ended")
    expect(page.locator("#answer").or_(ended)).to_be_visible(timeout=TURN_TIMEOUT)
    return question + 1, ended.is_visible()


def conversation_snapshot(page):
    return page.locator("#conversation [id^='turn-']").evaluate_all(
        "els => els.map(e => [e.id, e.className, e.textContent.trim()])"
    )


def assert_no_horizontal_overflow(page, where):
    sizes = page.evaluate(
        """() => {
          const root = document.documentElement;
          const wide = [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
              (e.className && typeof e.className === 'string' ? '.' + e.className.trim().replace(/\\s+/g, '.') : ''));
          return {scrollWidth: root.scrollWidth, innerWidth: window.innerWidth, wide};
        }"""
    )
    assert sizes["scrollWidth"] <= sizes["innerWidth"] + 1, f"{where} overflows horizontally: {sizes}"


def wait_for_report(page):
    expect(page).to_have_url(re.compile(r"/report/$"))
    expect(page.locator("#overall-score")).to_be_visible(timeout=REPORT_TIMEOUT)
    expect(page.locator("#overall-score")).to_contain_text(re.compile(r"\d+\s*/100"))


# ----- tests -----


def test_it_runs_a_three_question_interview_by_typing_and_shows_the_report(page, app_server):
    sign_up(page, app_server)
    start_interview(page, questions=3)

    sent = []
    over = False
    checked_reload = False
    while not over:
        assert len(sent) < 12, f"the interview did not close after {len(sent)} answers"
        text = ANSWERS[len(sent) % len(ANSWERS)]
        answer_index, over = answer_current_question(page, text)
        sent.append(text)
        # Practice mode: the coach's feedback appears under the answer.
        feedback = page.locator(f"#feedback-{answer_index} .feedback")
        expect(feedback).to_be_visible(timeout=TURN_TIMEOUT)
        expect(feedback).to_contain_text("Coach’s feedback")
        expect(feedback.locator(".score-row")).to_have_count(5)

        if not over and not checked_reload:
            # A reload mid-interview resumes exactly where it was.
            before = conversation_snapshot(page)
            progress = page.locator("#progress").inner_text()
            page.reload()
            expect(page.locator("#answer")).to_be_visible(timeout=TURN_TIMEOUT)
            expect(page.locator("#answer")).to_have_value("")
            assert conversation_snapshot(page) == before
            assert page.locator("#progress").inner_text() == progress
            expect(page.locator(f"#feedback-{answer_index} .feedback")).to_be_visible()
            checked_reload = True

    assert checked_reload, "the interview closed after the first answer; the reload was never checked"
    closing = page.locator(f"#turn-{last_turn_index(page)}")
    expect(closing).to_have_class(re.compile(r"\binterviewer\b"))
    expect(page.locator("#answer-form")).to_have_count(0)
    expect(page.locator("#progress")).to_contain_text("Question 3 of 3")

    page.locator("#answer-area").get_by_role("link", name="See your report").click()
    wait_for_report(page)
    expect(page.get_by_role("heading", name=re.compile("Report: Software Engineer"))).to_be_visible()
    overall = page.locator(".card", has=page.locator("#overall-score"))
    for label in ("Relevance", "Structure (STAR)", "Specificity & outcomes", "Communication", "Role fit"):
        expect(overall.locator(".score-row", has_text=label)).to_contain_text(re.compile(r"\d(\.\d)?/5"))
    expect(page.locator(".chart svg")).to_be_visible()
    answers = page.locator("blockquote.candidate")
    expect(answers).to_have_count(len(sent))
    for i, text in enumerate(sent):
        expect(answers.nth(i)).to_contain_text(text[:60])
    expect(page.locator("article .feedback")).to_have_count(len(sent))

    # The dashboard lists it as completed, with its score.
    page.get_by_role("link", name="My interviews").click()
    row = page.locator("table.list tbody tr").first
    expect(row).to_contain_text("Completed")
    expect(row).to_contain_text(re.compile(r"\d+/100"))


def test_it_works_on_a_phone_sized_viewport(new_context, app_server):
    phone = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=3)
    page = phone.new_page()
    sign_up(page, app_server)
    assert_no_horizontal_overflow(page, "the empty dashboard")

    page.get_by_role("link", name="New interview").first.click()
    fill_new_interview(page)
    assert_no_horizontal_overflow(page, "the new-interview form")
    page.get_by_role("button", name="Start interview").click()
    expect(page.locator("#turn-0")).to_be_visible(timeout=TURN_TIMEOUT)
    expect(page.locator("#answer")).to_be_visible(timeout=TURN_TIMEOUT)
    assert_no_horizontal_overflow(page, "the interview room")

    send = page.get_by_role("button", name="Send answer")
    expect(send).to_be_visible()
    box = send.bounding_box()
    assert box is not None and box["height"] >= 44, f"the Send button is too small to tap: {box}"

    answer_index, over = answer_current_question(page, ANSWERS[0])
    assert not over
    expect(page.locator(f"#feedback-{answer_index} .feedback")).to_be_visible(timeout=TURN_TIMEOUT)
    assert_no_horizontal_overflow(page, "the interview room after an answer and its feedback")
    expect(page.get_by_role("button", name="Send answer")).to_be_visible()

    page.goto("/interviews/")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    assert_no_horizontal_overflow(page, "the dashboard with an interview")


def test_it_ends_an_interview_early_and_builds_the_report(page, app_server):
    sign_up(page, app_server)
    start_interview(page, questions=5)
    _, over = answer_current_question(page, ANSWERS[1])
    assert not over

    dialogs = []

    def accept(dialog):
        dialogs.append((dialog.type, dialog.message))
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="End interview").click()
    wait_for_report(page)
    assert dialogs and dialogs[0][0] == "confirm" and "End the interview" in dialogs[0][1]
    expect(page.locator("h1 + p.muted")).to_contain_text("Completed")
    expect(page.locator("blockquote.candidate")).to_have_count(1)
    expect(page.locator("blockquote.candidate")).to_contain_text(ANSWERS[1][:60])
    expect(page.locator(".chart svg")).to_be_visible()

    # The room now redirects to the report, and the dashboard offers it.
    page.goto("/interviews/")
    row = page.locator("table.list tbody tr").first
    expect(row.get_by_role("link", name="View report")).to_be_visible()
