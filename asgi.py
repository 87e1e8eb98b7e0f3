"""The single ASGI entry: HTTP → Django, WebSocket /ws/v1/ → the one consumer.

Origin and authentication checks happen in the consumer's handshake
(``gateway.consumer.CurbsideConsumer.connect``): it needs to tell ticket clients, which may
send no Origin, from browser sessions, which must come from an allowed one.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from gateway import patches  # noqa: E402
from gateway.consumer import CurbsideConsumer  # noqa: E402
from gateway.ticket_endpoint import TicketEndpoint  # noqa: E402

patches.apply()

application = ProtocolTypeRouter(
    {
        # The session case of POST /api/v1/auth/ws-ticket is answered without Django's
        # per-request thread; everything else goes to Django as before.
        "http": TicketEndpoint(django_asgi),
        "websocket": URLRouter([path("ws/v1/", CurbsideConsumer.as_asgi())]),
    }
)
