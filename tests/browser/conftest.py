"""Browser tests: Debian's Chromium, driven by Playwright, against the real app.

The app runs as subprocesses (daphne + the django-q2 worker, see
tests/live_server.py) on a fresh database, started once for this package and
stopped after its last test, so it does not idle through the rest of the suite. These tests
never touch the ORM in-process: Playwright's sync API runs an event loop of its
own, and they check what a candidate sees, over HTTP, anyway.

Without /usr/bin/chromium the tests are skipped, except under CI=true, where a
missing browser fails the run.
"""

import os
from pathlib import Path

import pytest

from tests.live_server import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


def _missing(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a missing service fails the run)", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the app's logs to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and HERE in Path(str(item.path)).resolve().parents:
        server = getattr(item, "funcargs", {}).get("app_server")
        if server is not None:
            report.sections.append(("app server logs", server.logs(tail_chars=8000)))


@pytest.fixture(scope="package")
def app_server():
    """The whole app on a fresh database, once for all the browser tests (sub-packages too),
    stopped after the last of them. Named so as not to shadow pytest-django's live_server."""
    if not os.path.exists(CHROMIUM):
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    server = LiveServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def no_server_errors(app_server):
    """A test fails if the app logged a traceback or an ERROR while it ran, even if the page looked fine."""
    marks = app_server.log_marks()
    yield
    app_server.check_alive()
    errors = app_server.errors_since(marks)
    if errors:
        pytest.fail(f"the app logged errors during this test:\n{errors}", pytrace=False)


@pytest.fixture(scope="package")
def browser():
    """One Chromium for the package. Package-scoped so that Playwright's sync API (and
    its event loop) is stopped before other packages' asyncio tests run."""
    if not os.path.exists(CHROMIUM):
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def new_context(browser, app_server):
    """Make browser contexts (fresh cookies) pointed at the app; all closed after the test."""
    contexts = []

    def make(**options):
        context = browser.new_context(base_url=app_server.url, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context):
    return new_context().new_page()
