"""What the HTTP fakes (Gemini, AssemblyAI, Polly) share: a threaded server on
127.0.0.1 that behaves like a provider's under load, a quiet request handler,
and starting and stopping it."""

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops bursts of connections, and
    # the client's SYN retries then add whole seconds to a benchmark.
    request_queue_size = 1024
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client dropping its kept-alive connection (an app process
        # stopping) is the client's business, not a traceback on stderr.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Small writes go out at once: with Nagle's algorithm each one after the
    # headers waits for the client's delayed ACK (~40 ms), which a real
    # provider's servers do not add and a benchmark would count as our overhead.
    disable_nagle_algorithm = True

    def log_message(self, *args):  # keep test output quiet
        pass

    @property
    def fake(self):
        return self.server.fake


class FakeServer:
    """Base of the fakes: serve(handler) in __init__; close() or `with` stops it."""

    def serve(self, handler, name):
        self._server = Server(("127.0.0.1", 0), handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
        self._thread.start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
