"""Content-Security-Policy and the other headers Django's SecurityMiddleware
doesn't set.

The pages carry no inline script, no inline event handler and no style
attribute (htmx's injected indicator style is turned off in base.html), so the
policy needs neither 'unsafe-inline' nor nonces. Sockets go to the same host.
"""

from django.core.exceptions import DisallowedHost
from django.utils.deprecation import MiddlewareMixin

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


class SecurityHeadersMiddleware(MiddlewareMixin):
    # MiddlewareMixin: works in sync and async chains without a thread hop.
    def process_response(self, request, response):
        response.headers.setdefault("Content-Security-Policy", content_security_policy(request))
        # The microphone is used by this site's own pages only; nothing else.
        response.headers.setdefault("Permissions-Policy", "microphone=(self), camera=(), geolocation=(), payment=()")
        return response
