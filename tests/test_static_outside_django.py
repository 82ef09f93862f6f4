"""/static/ is served in front of Django (interviewer/asgi.py): compressed,
cached, with the security headers of a page, and without the middleware chain."""

import json
import os
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.live_server import PROJECT_DIR, LiveServer, require_services

# Every response of the Django app carries it (lib.logging.RequestContextMiddleware).
DJANGO_ONLY_HEADER = "X-Request-ID"


def production_env(static_root):
    return {
        "DEBUG": "false",
        "SECRET_KEY": "static-" + uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "STATIC_ROOT": str(static_root),
        "SECURE_COOKIES": "false",
        "SECURE_SSL_REDIRECT": "false",
    }


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    require_services()  # DEBUG off refuses the in-memory channel layer (interviewer.E001)
    static_root = tmp_path_factory.mktemp("static")
    env = production_env(static_root)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=PROJECT_DIR,
                   env={**os.environ, **env}, check=True)
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    with LiveServer(env=env, clusters=()) as server:
        yield server, manifest


def test_it_serves_a_hashed_file_compressed_and_immutable_without_django(production_server):
    server, manifest = production_server
    response = httpx.get(server.url_for("/static/" + manifest["css/app.css"]), headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "immutable" in response.headers["Cache-Control"]
    assert "Accept-Encoding" in response.headers["Vary"]
    assert DJANGO_ONLY_HEADER not in response.headers


def test_a_static_file_has_the_security_headers_of_a_page(production_server):
    server, manifest = production_server
    static = httpx.get(server.url_for("/static/" + manifest["js/room.js"])).headers
    page = httpx.get(server.url_for("/accounts/login/")).headers
    assert DJANGO_ONLY_HEADER in page
    for name in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy"):
        assert static[name] == page[name], name
    assert "frame-ancestors 'none'" in static["Content-Security-Policy"]
    assert static["Content-Type"].startswith("text/javascript")


def test_an_unhashed_name_is_cached_briefly(production_server):
    server, _ = production_server
    response = httpx.get(server.url_for("/static/js/room.js"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "max-age=60, public"


def test_a_missing_static_file_falls_through_to_django(production_server):
    server, _ = production_server
    response = httpx.get(server.url_for("/static/no-such-file.css"))
    assert response.status_code == 404 and DJANGO_ONLY_HEADER in response.headers


def test_it_serves_the_apps_static_files_with_debug_on():
    with LiveServer(clusters=()) as server:
        response = httpx.get(server.url_for("/static/django_htmx/htmx-2.min.js"))
        app_css = httpx.get(server.url_for("/static/css/app.css"))
    assert response.status_code == 200 and DJANGO_ONLY_HEADER not in response.headers
    assert app_css.status_code == 200 and app_css.headers["X-Content-Type-Options"] == "nosniff"
