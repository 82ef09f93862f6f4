"""Content-Security-Policy and the other headers Django's SecurityMiddleware
doesn't set; and, below, the ASGI limit on request body size.

The pages carry no inline script, no inline event handler and no style
attribute (htmx's injected indicator style is turned off in base.html), so the
policy needs neither 'unsafe-inline' nor nonces. Sockets go to the same host.

Not django-csp: its CSPMiddleware (4.0) is a MiddlewareMixin, so under ASGI
both its hooks (process_request, process_response) run in a worker thread, two
hand-offs on every request for a header that is one string. It would also
leave the header off 404 and 500 pages while DEBUG is on, and the socket
sources, which depend on the request's host, would need a subclass anyway.
"""

import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.core.exceptions import DisallowedHost
from django.middleware.common import CommonMiddleware
from prometheus_client import Counter, Histogram

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'; connect-src 'self'"
)


def content_security_policy(request):
    try:
        host = request.get_host()
    except DisallowedHost:
        return POLICY
    # 'self' covers same-host sockets in CSP 3 browsers; older ones need them spelled out.
    sockets = f"wss://{host}" if request.is_secure() else f"ws://{host} wss://{host}"
    return f"{POLICY} {sockets}"


class SecurityHeadersMiddleware:
    """Sync and async: under ASGI it runs on the event loop. (A MiddlewareMixin
    hook would run in a thread, one more hand-off on every request.)"""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        return self._add_headers(request, self.get_response(request))

    async def _acall(self, request):
        return self._add_headers(request, await self.get_response(request))

    @staticmethod
    def _add_headers(request, response):
        response.headers.setdefault("Content-Security-Policy", content_security_policy(request))
        # The microphone is used by this site's own pages only; nothing else.
        response.headers.setdefault("Permissions-Policy", "microphone=(self), camera=(), geolocation=(), payment=()")
        return response


# ----- static files, served in front of Django (interviewer/asgi.py) -----


def static_file_headers(headers, path, url):
    """The security headers a page gets from the middleware, for a static file,
    which no longer passes through it (servestatic's add_headers_function)."""
    headers["Content-Security-Policy"] = POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = settings.X_FRAME_OPTIONS
    if settings.SECURE_REFERRER_POLICY:
        headers["Referrer-Policy"] = settings.SECURE_REFERRER_POLICY
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
    if settings.SECURE_HSTS_SECONDS:
        # Browsers ignore it over plain HTTP, so it needs no check of the request.
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers["Strict-Transport-Security"] = hsts


# ----- request body size, at the ASGI level -----

TOO_LARGE_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"x-content-type-options", b"nosniff"), (b"connection", b"close")]


def limit_request_body(app):
    """Answer 413 to a request body over settings.REQUEST_MAX_BYTES before the
    app reads it: at once from Content-Length, else by counting the bytes as
    they arrive (chunked bodies). Django's handler would spool the whole body
    to a temporary file first, and the multipart parser once more.

    Over the limit the app is told the client went away (http.disconnect),
    so Django gives up before any view runs; then the 413 goes out. Daphne
    itself receives every body completely before calling the app, so the
    proxy in front (nginx client_max_body_size) stays the first line."""

    async def too_large(send):
        await send({"type": "http.response.start", "status": 413, "headers": TOO_LARGE_HEADERS})
        await send({"type": "http.response.body", "body": b"Request body too large.\n"})

    async def limited(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        limit = settings.REQUEST_MAX_BYTES
        for name, value in scope.get("headers", ()):
            if name.lower() == b"content-length" and value.strip().isdigit() and int(value) > limit:
                return await too_large(send)
        received = 0
        over = False
        started = False

        async def counting_receive():
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True  # stop here: nothing more is read, nothing of it is passed on
                    return {"type": "http.disconnect"}
            return message

        async def watching_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await app(scope, counting_receive, watching_send)
        if over and not started:
            await too_large(send)

    return limited


# ----- Django's own middleware, on the event loop -----
#
# Under ASGI, Django runs every hook of a MiddlewareMixin in a thread
# (sync_to_async), whether or not it does I/O: a dozen hand-offs to the one
# sync thread on every request. The hooks below only read the request and set
# headers, so they run on the loop; storing messages (which may touch the
# session) still goes to a thread, and only when there is something to store.
# Security, sessions, CSRF and X-Frame-Options stay Django's own classes:
# `check --deploy` looks for them by dotted path.


class OnLoopMixin:
    """For a MiddlewareMixin subclass whose process_request and process_response do no I/O."""

    async def __acall__(self, request):
        response = self.process_request(request) if hasattr(self, "process_request") else None
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = await self._aprocess_response(request, response)
        return response

    async def _aprocess_response(self, request, response):
        return self.process_response(request, response)


class OnLoopCommonMiddleware(OnLoopMixin, CommonMiddleware):
    pass


class OnLoopAuthenticationMiddleware(OnLoopMixin, AuthenticationMiddleware):
    """request.user stays lazy: nothing is read until a view asks (auser() in async views)."""


class OnLoopMessageMiddleware(OnLoopMixin, MessageMiddleware):
    """Messages are stored (in the session or a cookie, in a thread) only when some were read or added."""

    async def _aprocess_response(self, request, response):
        storage = getattr(request, "_messages", None)
        if storage is not None and (storage.used or storage.added_new):
            return await sync_to_async(self.process_response)(request, response)
        return response


# ----- request metrics -----
#
# django-prometheus's middleware pair is sync (MiddlewareMixin): under ASGI, four
# hand-offs to a thread on every request. These are the same metric names
# (the README's requests, latency by view and responses by status), counted on the loop.

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 25.0, 50.0, 75.0, float("inf"))
REQUESTS_BY_METHOD = Counter("django_http_requests_total_by_method", "Count of requests by method.", ["method"])
RESPONSES_BY_STATUS = Counter("django_http_responses_total_by_status", "Count of responses by status.", ["status"])
LATENCY_BY_VIEW = Histogram(
    "django_http_requests_latency_seconds_by_view_method",
    "Histogram of request processing time labelled by view.",
    ["view", "method"],
    buckets=LATENCY_BUCKETS,
)
EXCEPTIONS_BY_TYPE = Counter("django_http_exceptions_total_by_type", "Count of exceptions by type.", ["type"])


class RequestMetricsMiddleware:
    """Requests by method, responses by status, latency by view: sync and async, no thread."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        started = time.perf_counter()
        return self._observe(request, self.get_response(request), started)

    async def _acall(self, request):
        started = time.perf_counter()
        return self._observe(request, await self.get_response(request), started)

    def process_exception(self, request, exception):
        EXCEPTIONS_BY_TYPE.labels(type(exception).__name__).inc()

    @staticmethod
    def _observe(request, response, started):
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None and match.view_name else "<unnamed view>"
        REQUESTS_BY_METHOD.labels(request.method).inc()
        RESPONSES_BY_STATUS.labels(str(response.status_code)).inc()
        LATENCY_BY_VIEW.labels(view, request.method).observe(time.perf_counter() - started)
        return response
