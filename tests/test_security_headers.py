import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from interviews import report
from interviews.models import Interview, Turn
from tests.factories import answered, ask, make_interview, ready_feedback

BASE_DIR = Path(__file__).resolve().parent.parent
TAG = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s>]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*/?>")
ATTRIBUTE_NAME = re.compile(r"\s([^\s=>]+)(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?")


def directives(response):
    policy = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}


async def test_the_header_middleware_runs_on_the_event_loop_under_asgi(rf, monkeypatch):
    import threading

    from django.http import HttpResponse

    from lib import middleware

    threads = []
    policy = middleware.content_security_policy

    def recording(request):
        threads.append(threading.get_ident())
        return policy(request)

    monkeypatch.setattr(middleware, "content_security_policy", recording)

    async def view(request):
        return HttpResponse("ok")

    response = await middleware.SecurityHeadersMiddleware(view)(rf.get("/"))
    # Set on the loop's own thread: no hand-off to a worker thread per request.
    assert threads == [threading.get_ident()]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["Permissions-Policy"].startswith("microphone=(self)")


def test_it_sends_a_strict_content_security_policy(client, db):
    csp = directives(client.get(reverse("home")))
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["media-src"] == ["'self'", "blob:"]
    assert csp["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert not any("unsafe" in source for sources in csp.values() for source in sources)


def test_it_allows_only_secure_sockets_over_https(client, db):
    csp = directives(client.get(reverse("home"), secure=True))
    assert csp["connect-src"] == ["'self'", "wss://testserver"]


def test_it_sends_the_other_security_headers(client, db):
    response = client.get(reverse("home"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "microphone=(self)" in response["Permissions-Policy"]


def test_it_sends_hsts_over_https_when_configured(client, db, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = client.get(reverse("home"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_it_sets_the_headers_on_errors_and_socket_less_responses(owner_client, db):
    response = owner_client.get("/interviews/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404 and "Content-Security-Policy" in response


def test_it_keeps_session_and_csrf_cookies_away_from_scripts_and_other_sites(client, owner, settings):
    client.post(reverse("account_login"), {"login": owner.email, "password": "correct-horse-9"})
    session = client.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] is True and session["samesite"] == "Lax"
    assert settings.CSRF_COOKIE_SAMESITE == "Lax"


# ----- no inline script, handler or style on any page -----


def assert_no_inline_code(html, page):
    for name, attributes in TAG.findall(html):
        lowered = name.lower()
        names = [a.lower() for a in ATTRIBUTE_NAME.findall(attributes)]
        if lowered == "script":
            is_data = re.search(r"type=[\"']?application/(ld\+)?json", attributes)
            assert "src" in names or is_data, f"inline <script> on {page}"
        assert lowered != "style", f"<style> element on {page}"
        handlers = [a for a in names if re.fullmatch(r"on[a-z]+", a)]
        assert not handlers, f"inline handler {handlers} on {page}"
        assert "style" not in names, f"style attribute on <{name}{attributes}> on {page}"
        assert not re.search(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", attributes, re.I), page
    assert not re.search(r"\son[a-z]+\s*=", re.sub(r">[^<]*<", "><", html)), page


@pytest.fixture
def pages(owner):
    """One interview in the room (with practice feedback) and one with a finished report."""
    live = make_interview(owner, mode="practice")
    ask(live, "Why this role?", Turn.Kind.INTRODUCTION)
    ready_feedback(live.accept_answer("Because I like data.", 0))
    done = answered(owner, answers=["I cut latency by 40% using Python.", "We shipped it in 3 weeks."])
    done.add_interviewer_turn(Turn.Kind.CLOSING, "Thank you.")
    Interview.objects.filter(pk=done.pk).update(status="completed", summary_status="pending")
    report.build(done.id)
    assert Interview.objects.get(pk=done.pk).summary_status == "ready"
    building = make_interview(owner, status="completed", summary_status="building")
    return {
        "home": reverse("home"),
        "dashboard": reverse("dashboard"),
        "new interview": reverse("new_interview"),
        "room": reverse("interview_room", args=[live.id]),
        "report": reverse("interview_report", args=[done.id]),
        "report building": reverse("interview_report", args=[building.id]),
        "transcript": reverse("interview_room", args=[done.id]) + "?view=transcript",
        "profile": reverse("profile"),
        "delete account": reverse("delete_account"),
        "change password": reverse("account_change_password"),
        "email addresses": reverse("account_email"),
    }


def test_it_renders_no_inline_script_handler_or_style_for_a_candidate(owner_client, pages):
    for name, url in pages.items():
        response = owner_client.get(url, follow=True)
        assert response.status_code == 200, name
        html = response.content.decode()
        assert_no_inline_code(html, name)
        assert '"includeIndicatorStyles": false' in html, name  # htmx must not inject a <style>


@pytest.mark.parametrize(
    "url",
    ["home", "account_login", "account_signup", "account_reset_password", "account_reset_password_done"],
)
def test_it_renders_no_inline_script_handler_or_style_for_visitors(client, db, url):
    response = client.get(reverse(url))
    assert response.status_code == 200
    assert_no_inline_code(response.content.decode(), url)


def test_it_renders_no_inline_script_on_error_and_rate_limit_pages(owner_client, owner, settings):
    settings.RATE_LIMIT_INTERVIEWS = "0/h"
    response = owner_client.post(reverse("new_interview"), {})
    assert response.status_code == 429
    assert_no_inline_code(response.content.decode(), "429")


def test_it_renders_no_inline_script_in_the_admin(client, staff):
    client.force_login(staff)
    interview = make_interview(staff)
    for url in [reverse("admin:index"), reverse("admin:interviews_interview_changelist"), reverse("admin:interviews_interview_change", args=[interview.id])]:
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        for attributes in re.findall(r"<script\b([^>]*)>", html):
            assert "src=" in attributes or "application/json" in attributes, url


def test_it_renders_partials_without_inline_styles(owner, owner_client):
    interview = make_interview(owner)
    ask(interview, "Why?", Turn.Kind.INTRODUCTION)
    response = owner_client.post(reverse("submit_answer", args=[interview.id]), {"answer": "Because.", "after_index": 0}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert_no_inline_code(response.content.decode(), "answer fragment")


def test_it_never_marks_user_or_model_text_safe_in_templates():
    """Everything the candidate or a model writes is autoescaped; only
    developer-written help text (allauth's password rules) is trusted."""
    offenders = []
    for path in (BASE_DIR / "templates").rglob("*.html"):
        text = path.read_text()
        if "autoescape off" in text:
            offenders.append(f"{path}: autoescape off")
        for match in re.finditer(r"\{\{\s*([^}|]+)\|safe", text):
            if match.group(1).strip() != "field.help_text":
                offenders.append(f"{path}: {match.group(0)}")
    assert offenders == []


# ----- the production check -----


def deploy_env(**overrides):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_FILE")}
    env.update(
        DJANGO_SETTINGS_MODULE="interviewer.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="interviewer.example.com",
        CSRF_TRUSTED_ORIGINS="https://interviewer.example.com",
        # Unreachable on purpose (TEST-NET-1): the checks must not connect.
        DATABASE_URL="postgres://app:secret@192.0.2.1:5432/interviewer?connect_timeout=2",
        REDIS_URL="redis://192.0.2.1:6379/0",
        SECURE_COOKIES="true",
        SECURE_SSL_REDIRECT="true",
        SECURE_HSTS_PRELOAD="true",  # SECURE_HSTS_SECONDS: a year by default with DEBUG off
    )
    env.pop("SECURE_HSTS_SECONDS", None)
    env.update(overrides)
    return env


def run_deploy_check(env):
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_the_deploy_check_with_production_settings():
    result = run_deploy_check(deploy_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_fails_the_deploy_check_without_https_settings():
    result = run_deploy_check(deploy_env(SECURE_SSL_REDIRECT="false", SECURE_COOKIES="false"))
    assert result.returncode != 0
    assert "security.W008" in result.stderr and "security.W012" in result.stderr
