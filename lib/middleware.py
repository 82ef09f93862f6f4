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

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import DisallowedHost

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
