"""System checks for the real-time side."""

from django.conf import settings
from django.core.checks import Warning, register


@register()
def in_memory_layer_in_production(app_configs, **kwargs):
    """The in-memory channel layer serves one process only: fine for the embedded default,
    wrong for anything with DEBUG off (a second daphne would silently split the network)."""
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if not settings.DEBUG and backend == "channels.layers.InMemoryChannelLayer":
        return [
            Warning(
                "The in-memory channel layer is in use with DEBUG off.",
                hint="Set REDIS_URL so every daphne process shares one channel layer.",
                id="curbside.W001",
            )
        ]
    return []
