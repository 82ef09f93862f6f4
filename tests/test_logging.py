"""Structured logs: one JSON object per line, tagged with request, user and interview."""

import io
import json
import logging
import uuid

import pytest

from lib.logging import JsonFormatter, bind, current
from tests.factories import make_interview


@pytest.fixture
def json_lines():
    """Every line logged while the test runs, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def test_it_writes_one_json_object_per_line_with_the_context(json_lines):
    bind(request_id="req-12345678", user_id=7, interview_id="abc")
    try:
        logging.getLogger("interviews.test").warning("two\nlines %s", "here")
    finally:
        bind(request_id=None, user_id=None, interview_id=None)
    [entry] = json_lines()
    assert entry["level"] == "WARNING" and entry["logger"] == "interviews.test"
    assert entry["message"] == "two\nlines here"
    assert entry["request_id"] == "req-12345678" and entry["user_id"] == "7" and entry["interview_id"] == "abc"
    assert entry["time"].endswith("+00:00")


def test_it_includes_exceptions(json_lines):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("failed")
    assert "ValueError: boom" in json_lines()[0]["exc"]


def test_it_tags_request_logs_with_request_user_and_interview(owner_client, owner, json_lines):
    missing = uuid.uuid4()
    response = owner_client.get(f"/interviews/{missing}/")
    assert response.status_code == 404
    request_id = response["X-Request-ID"]
    [entry] = [e for e in json_lines() if e["logger"] == "django.request"]
    assert entry["request_id"] == request_id
    assert entry["user_id"] == str(owner.pk)
    assert entry["interview_id"] == str(missing)
    # Nothing leaks into the next request or the test's own context.
    assert current() == {"request_id": None, "user_id": None, "interview_id": None}


def test_it_echoes_a_sane_incoming_request_id_and_replaces_others(client, db):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="edge-4f1c2a9b").headers["X-Request-ID"] == "edge-4f1c2a9b"
    for bad in ["short", "has spaces in it", "x" * 200, '"><script>alert(1)</script>', ""]:
        echoed = client.get("/healthz", HTTP_X_REQUEST_ID=bad).headers["X-Request-ID"]
        assert echoed != bad and len(echoed) == 32
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_it_never_logs_bodies_or_authorization_headers(client, owner, json_lines):
    interview = make_interview(owner)
    client.force_login(owner)
    client.raise_request_exception = False
    client.post(
        f"/interviews/{uuid.uuid4()}/end/",
        {"password": "hunter2-body-secret", "answer": "private answer text"},
        HTTP_AUTHORIZATION="Bearer header-secret-token",
        HTTP_COOKIE="sessionid=cookie-secret",
    )
    client.get(f"/interviews/{interview.id}/nope", HTTP_AUTHORIZATION="Bearer header-secret-token")
    text = json.dumps(json_lines())
    assert json_lines(), "the 404s were logged"
    for secret in ("hunter2-body-secret", "private answer text", "header-secret-token", "cookie-secret"):
        assert secret not in text


def test_it_uses_json_logs_unless_told_otherwise_in_production():
    import os
    import subprocess
    import sys

    def formatter(**env):
        code = "from django.conf import settings; print(settings.LOGGING['handlers']['console']['formatter'])"
        environment = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "LOG_FORMAT")}
        environment.update(DJANGO_SETTINGS_MODULE="interviewer.settings", **env)
        result = subprocess.run([sys.executable, "-c", "import django; django.setup(); " + code], env=environment, capture_output=True, text=True)
        return result.stdout.strip() or result.stderr.strip().splitlines()[-1]

    assert formatter(DEBUG="false") == "json"
    assert formatter(DEBUG="true") == "plain"
    assert formatter(DEBUG="false", LOG_FORMAT="plain") == "plain"
    assert "LOG_FORMAT must be" in formatter(LOG_FORMAT="xml")


async def test_it_tags_requests_served_over_asgi_too(async_client, json_lines):
    response = await async_client.get("/no-such-page/", headers={"X-Request-ID": "asgi-req-0001"})
    assert response.status_code == 404 and response["X-Request-ID"] == "asgi-req-0001"
    assert [e["request_id"] for e in json_lines() if e["logger"] == "django.request"] == ["asgi-req-0001"]
