"""A fake provider that records how many calls it serves at once, and a worker
script that calls it through a lib.caps.Cap: for cap tests and benchmarks.

    with ConcurrencyRecorder(seconds=0.2) as provider:
        ...  # processes GET provider.url while holding a slot
    provider.max_concurrent, provider.served, provider.intervals, provider.busy_seconds()

    python -c CAP_WORKER <backend: redis|database> <cap name> <limit> <lease> <redis url or "">
                         <provider url> <jobs> [--wait-go]

The worker (run with DJANGO_SETTINGS_MODULE set and the app's database/Redis in
its environment) starts `jobs` threads at once, each taking a slot of the cap
(waiting up to 60 s) and calling the provider while it holds it. With
--wait-go it prints "ready" once Django is set up and waits for a line on
stdin before starting, so several workers can start their jobs together.
It prints "errors: [...]" and exits 1 if any job failed.
"""

import threading
import time

from tests.fakes.http_server import Handler, Server

__all__ = ["CAP_WORKER", "ConcurrencyRecorder"]

CAP_WORKER = r"""
import sys, threading, time, urllib.request
import django
django.setup()
from django.db import connection
from lib.caps import Cap, DatabaseBackend, RedisBackend

backend, name, limit, lease, redis_url, url, jobs = sys.argv[1:8]
backend = RedisBackend(redis_url) if backend == "redis" else DatabaseBackend()
cap = Cap(name, int(limit), lease_seconds=float(lease), backend=backend)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
errors = []

def job():
    try:
        with cap.slot(timeout=60):
            opener.open(url, timeout=30).read()
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connection.close()

if "--wait-go" in sys.argv[8:]:
    print("ready", flush=True)
    sys.stdin.readline()
threads = [threading.Thread(target=job) for _ in range(int(jobs))]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("errors:", errors, flush=True)
sys.exit(1 if errors else 0)
"""


class ConcurrencyRecorder:
    """An HTTP server on 127.0.0.1 that takes `seconds` per GET and records how
    many requests it was serving at once (`max_concurrent`), how many it served,
    and each one's (start, end) on time.monotonic() (`intervals`)."""

    def __init__(self, seconds=0.2):
        self.seconds = seconds
        self.now = 0
        self.max_concurrent = 0
        self.served = 0
        self.intervals = []
        self._lock = threading.Lock()
        recorder = self

        class RecordingHandler(Handler):
            def do_GET(self):
                with recorder._lock:
                    started = time.monotonic()
                    recorder.now += 1
                    recorder.max_concurrent = max(recorder.max_concurrent, recorder.now)
                time.sleep(recorder.seconds)
                with recorder._lock:
                    recorder.now -= 1
                    recorder.served += 1
                    recorder.intervals.append((started, time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self._server = Server(("127.0.0.1", 0), RecordingHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="concurrency-recorder", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}/"

    @property
    def state(self):
        """As the tests' fake_provider fixture reports it: {"now", "max", "served"}."""
        with self._lock:
            return {"now": self.now, "max": self.max_concurrent, "served": self.served}

    def busy_seconds(self):
        with self._lock:
            return sum(end - start for start, end in self.intervals)

    def span(self):
        """(first start, last end) of the requests served, or None."""
        with self._lock:
            if not self.intervals:
                return None
            return min(s for s, _ in self.intervals), max(e for _, e in self.intervals)

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
