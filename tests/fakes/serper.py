"""A fake Serper (google.serper.dev) search API on 127.0.0.1, speaking its wire protocol.

    POST /search   JSON {"q": ..., "num": ...}, header X-API-KEY
                   -> 200 {"searchParameters": {...}, "organic": [{"title", "link",
                      "snippet", "position"}, ...], "credits": 1}
                   -> 403 {"message": "Unauthorized.", "statusCode": 403} for a wrong key

Scripting:

    fake.results("nurse interview", [{"title": ..., "link": ..., "snippet": ...}])  # queries containing this text
    fake.fail(429, times=2)          # the next 2 requests: that status, Serper's JSON error body
    fake.fail("timeout", times=1)    # answer after fake.slow_seconds (past the client's timeout)
    fake.fail("drop", times=1)       # close the connection without an answer
    fake.fail("malformed", times=1)  # 200 with a body that is not JSON

Unscripted queries get two results made from the query. Inspection:
`fake.requests` (the JSON bodies), `fake.headers` (their headers), `fake.max_concurrent`.

In pytest: the `fake_serper` fixture points SERPER_BASE_URL and SERPER_API_KEY at it.
"""

import json
import threading
import time

import pytest

from tests.fakes.http_server import FakeServer, Handler

DEFAULT_KEY = "fake-serper-key"


class _SerperHandler(Handler):
    def do_POST(self):
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with fake.lock:
            fake.concurrent += 1
            fake.max_concurrent = max(fake.max_concurrent, fake.concurrent)
        try:
            self._answer(fake, body)
        finally:
            with fake.lock:
                fake.concurrent -= 1

    def _answer(self, fake, body):
        if self.path != "/search":
            return self._json(404, {"message": "Not found", "statusCode": 404})
        try:
            request = json.loads(body)
        except ValueError:
            return self._json(400, {"message": "Invalid JSON", "statusCode": 400})
        with fake.lock:
            fake.requests.append(request)
            fake.headers.append(dict(self.headers))
            failure = fake._failures.pop(0) if fake._failures else None
        if self.headers.get("X-API-KEY") != fake.api_key:
            return self._json(403, {"message": "Unauthorized.", "statusCode": 403})
        if failure == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if failure == "timeout":
            time.sleep(fake.slow_seconds)
        elif failure == "malformed":
            return self._raw(200, b'{"organic": [{"title": "cut off')
        elif isinstance(failure, int):
            return self._json(failure, {"message": f"Error {failure}", "statusCode": failure})
        query = str(request.get("q", ""))
        organic = fake.organic_for(query)
        self._json(200, {
            "searchParameters": {"q": query, "type": "search", "engine": "google"},
            "organic": [dict(item, position=i + 1) for i, item in enumerate(organic)],
            "credits": 1,
        })

    def _json(self, status, payload):
        self._raw(status, json.dumps(payload).encode())

    def _raw(self, status, data):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeSerper(FakeServer):
    def __init__(self, api_key=DEFAULT_KEY, slow_seconds=1.0):
        self.api_key = api_key
        self.slow_seconds = slow_seconds
        self.lock = threading.Lock()
        self.requests, self.headers = [], []
        self.concurrent = self.max_concurrent = 0
        self._scripted = []
        self._failures = []
        self.serve(_SerperHandler, "fake-serper")

    def results(self, contains, organic):
        with self.lock:
            self._scripted.append((contains.lower(), list(organic)))

    def fail(self, what, times=1):
        with self.lock:
            self._failures.extend([what] * times)

    def organic_for(self, query):
        with self.lock:
            for contains, organic in self._scripted:
                if contains in query.lower():
                    return organic
        slug = "-".join(query.lower().split())[:60]
        return [
            {"title": f"Guide: {query}", "link": f"https://example.org/{slug}", "snippet": f"How to improve: {query}."},
            {"title": f"More on {query}", "link": f"https://example.com/{slug}", "snippet": "Worked examples."},
        ]


@pytest.fixture
def fake_serper(settings):
    fake = FakeSerper()
    settings.SERPER_BASE_URL = fake.url
    settings.SERPER_API_KEY = fake.api_key
    try:
        yield fake
    finally:
        fake.close()
