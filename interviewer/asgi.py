import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interviewer.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from django.conf import settings  # noqa: E402
from django.contrib.staticfiles import finders  # noqa: E402
from servestatic import ServeStaticASGI  # noqa: E402

from lib.middleware import limit_request_body, static_file_headers  # noqa: E402
from interviewer.routing import websocket_urlpatterns  # noqa: E402
from interviews import engine  # noqa: E402
from speech import warmup  # noqa: E402

# Each app's warm-up: what a candidate's first turn or first press of the
# microphone would otherwise wait for.
engine.warm_up()
warmup.warm_up()
# The channel layer's backend is imported on first use; import it now.
get_channel_layer()

def with_thread_pool(app):
    """Give the event loop a thread pool sized by ASYNC_THREADS on the first
    call. Every database call of a turn, and blocking parts of the model SDKs,
    run on the loop's default pool, which asyncio sizes at cpu_count + 4 (6
    threads here): far too few for hundreds of concurrent interviews."""
    configured = False

    async def wrapped(scope, receive, send):
        nonlocal configured
        if not configured:
            configured = True
            asyncio.get_running_loop().set_default_executor(
                ThreadPoolExecutor(max_workers=settings.ASYNC_THREADS, thread_name_prefix="asyncio")
            )
        return await app(scope, receive, send)

    return wrapped


# Hashed names (ManifestStaticFilesStorage: name.<12 hex digits>.ext) never change content.
HASHED_NAME = r"^.+\.[0-9a-f]{12}\..+$"


def with_static_files(app):
    """Serve /static/ before Django: a stylesheet or script needs none of the
    middleware chain. Collected files (STATIC_ROOT) in production, with their
    precompressed .br/.gz variants and immutable caching for hashed names; with
    DEBUG, the apps' own static directories, re-read as they change."""
    static = ServeStaticASGI(
        app,
        autorefresh=settings.DEBUG,
        max_age=0 if settings.DEBUG else 60,
        immutable_file_test=HASHED_NAME,
        add_headers_function=static_file_headers,
    )
    if settings.DEBUG:
        roots = {storage.location for finder in finders.get_finders() for storage in getattr(finder, "storages", {}).values()}
    else:
        roots = {settings.STATIC_ROOT}
    for root in sorted(roots):
        static.add_files(root, prefix=settings.STATIC_URL)
    return static


application = with_thread_pool(ProtocolTypeRouter(
    {
        "http": with_static_files(limit_request_body(django_asgi_app)),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
))
