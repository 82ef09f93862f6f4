import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interviewer.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from interviewer.routing import websocket_urlpatterns  # noqa: E402
from interviews.engine import warm_up  # noqa: E402
from speech.warmup import warm_up_in_background  # noqa: E402

warm_up()
warm_up_in_background()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
