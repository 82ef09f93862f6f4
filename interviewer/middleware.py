"""Content-Security-Policy and the other headers Django's SecurityMiddleware
doesn't set.

The pages carry no inline script, no inline event handler and no style
attribute (htmx's injected indicator style is turned off in base.html), so the
policy needs neither 'unsafe-inline' nor nonces. Sockets go to the same host.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
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
