"""Rate limits kept in the Django cache, so every process and host shares them
(Redis in production; the local-memory cache in the embedded setup).

A limit is "count/period", e.g. "30/m" or "5/10m" (period s, m, h or d with an
optional multiplier). Counting is a fixed window per key: `cache.add` starts
the window's counter and `cache.incr` bumps it, both atomic on Redis, so two
processes never lose a hit. The limits live in settings (RATE_LIMIT_<SCOPE>
per user, RATE_LIMIT_<SCOPE>_IP per client address) and are read on every
request, so they can be changed in tests; RATE_LIMITS_ENABLED turns them off.
"""

import functools
import ipaddress
import math
import re
import time

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.html import format_html

_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_limit(limit):
    """"30/m" -> (30, 60); "5/10m" -> (5, 600)."""
    match = _LIMIT.match(limit or "")
    if not match:
        raise ValueError(f"Rate limits look like '30/m' or '5/10m', got {limit!r}")
    count, multiplier, unit = match.groups()
    return int(count), int(multiplier or 1) * _UNIT_SECONDS[unit]


def check_rate(key, limit):
    """Count one hit for `key`; None if it is within `limit`, else the seconds
    until the window resets (for Retry-After). An empty limit never limits."""
    if not limit or not settings.RATE_LIMITS_ENABLED:
        return None
    count, period = parse_limit(limit)
    now = time.time()
    window = int(now // period)
    cache_key = f"rl:{settings.RATE_LIMIT_PREFIX}:{key}:{period}:{window}"
    # +1 s so the counter outlives its window even with clock skew between hosts.
    cache.add(cache_key, 0, timeout=period + 1)
    try:
        hits = cache.incr(cache_key)
    except ValueError:  # expired between add and incr: this hit opens a new window
        cache.add(cache_key, 1, timeout=period + 1)
        hits = 1
    if hits <= count:
        return None
    return max(1, math.ceil((window + 1) * period - now))


async def acheck_rate(key, limit):
    return await sync_to_async(check_rate)(key, limit)


def _parse_hop(hop):
    """An address from one X-Forwarded-For entry ("1.2.3.4", "1.2.3.4:80",
    "[2001:db8::1]:80"), or None."""
    hop = hop.strip()
    if hop.startswith("["):
        hop = hop[1:].split("]", 1)[0]
    elif hop.count(":") == 1:
        hop = hop.split(":", 1)[0]
    try:
        return ipaddress.ip_address(hop)
    except ValueError:
        return None


@functools.lru_cache(maxsize=8)
def _networks(trusted):
    return [ipaddress.ip_network(network, strict=False) for network in trusted]


def _is_trusted_proxy(address, depth, trusted):
    """`depth` counts hops from our side: 0 is the socket peer."""
    if isinstance(trusted, int):
        return depth < trusted
    return any(address in network for network in _networks(tuple(trusted)))


def client_address(request_or_scope):
    """The client's address, from a request or an ASGI scope (HTTP or
    WebSocket), as a string.

    Each proxy appends the address it received the request from to
    X-Forwarded-For, and anything to the left of that is whatever the client
    wrote. So walk from the socket peer leftwards past TRUSTED_PROXIES (a
    count, or networks) and stop at the first hop that is not one of them.
    With no trusted proxy the header is ignored. Daphne must not rewrite the
    peer itself (no --proxy-headers: it takes the leftmost hop)."""
    if isinstance(request_or_scope, dict):
        peer = (request_or_scope.get("client") or ("",))[0] or ""
        forwarded = b",".join(v for k, v in request_or_scope.get("headers", ()) if k.lower() == b"x-forwarded-for").decode("latin-1")
    else:
        peer = request_or_scope.META.get("REMOTE_ADDR", "")
        forwarded = request_or_scope.META.get("HTTP_X_FORWARDED_FOR", "")
    trusted = settings.TRUSTED_PROXIES
    if not trusted:
        return peer
    client = peer
    hops = [*forwarded.split(","), peer] if forwarded else [peer]
    for depth, hop in enumerate(reversed(hops)):
        address = _parse_hop(hop)
        if address is None:  # not an address: keep the last hop that was one
            break
        client = str(address)
        if not _is_trusted_proxy(address, depth, trusted):
            break
    return client


def client_ip(request_or_scope):
    """The client address that rate limits count (see client_address); IPv6
    clients are counted per /64, since one host usually holds a whole /64."""
    host = client_address(request_or_scope)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def limits_for(scope):
    """The (per-user, per-IP) limits of a scope, from settings."""
    name = f"RATE_LIMIT_{scope.upper()}"
    return getattr(settings, name, ""), getattr(settings, name + "_IP", "")


def hit(scope, user_id, ip):
    """Count a hit on both of a scope's limits; the longest wait, or None."""
    per_user, per_ip = limits_for(scope)
    waits = [check_rate(f"{scope}:ip:{ip}", per_ip)]
    if user_id is not None:
        waits.append(check_rate(f"{scope}:user:{user_id}", per_user))
    waits = [w for w in waits if w]
    return max(waits) if waits else None


async def ahit(scope, user_id, ip):
    return await sync_to_async(hit)(scope, user_id, ip)


def too_many_requests(request, retry_after):
    message = f"You're going a bit fast — try again in {retry_after} second{'' if retry_after == 1 else 's'}."
    if getattr(request, "htmx", False):
        response = HttpResponse(format_html('<p class="error-box" role="alert">{}</p>', message), status=429)
        # htmx swaps 429s (see the htmx-config meta in base.html) into the
        # page's notice slot, leaving the form and its draft as they are.
        response["HX-Retarget"] = "#notices"
        response["HX-Reswap"] = "innerHTML"
    else:
        response = render(request, "429.html", {"message": message, "retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def ratelimit(scope, methods=("POST",)):
    """Limit a function view by user (when logged in) and by client address,
    with the limits in settings.RATE_LIMIT_<SCOPE> and RATE_LIMIT_<SCOPE>_IP.
    Only requests with one of `methods` count. Works on sync and async views;
    put it below @login_required so the user is known."""

    def decorator(view):
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(request, *args, **kwargs):
                if request.method in methods:
                    user = await request.auser()
                    wait = await ahit(scope, user.pk if user.is_authenticated else None, client_ip(request))
                    if wait:
                        return await sync_to_async(too_many_requests)(request, wait)
                return await view(request, *args, **kwargs)

            return async_wrapper

        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method in methods:
                user = request.user
                wait = hit(scope, user.pk if user.is_authenticated else None, client_ip(request))
                if wait:
                    return too_many_requests(request, wait)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
