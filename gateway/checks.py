"""System checks for the real-time side."""

from django.conf import settings
from django.core.checks import Error, Warning, register

from bus import protocol
from rooms import selectors


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


@register()
def frame_limits_consistent(app_configs, **kwargs):
    """One message of the longest body must fit one page of history, and every frame the
    server builds must be sendable: otherwise a room would hold a message no client can
    ever be sent (docs/protocol.md, "Frame sizes")."""
    limits = settings.CURBSIDE_LIMITS
    errors = []
    need, budget = selectors.message_bytes_max(), selectors.page_bytes()
    if need > budget:
        chars = (budget - selectors.MESSAGE_OVERHEAD_BYTES) // protocol.JSON_BYTES_PER_CHAR_MAX
        errors.append(Error(
            f"A message of CURBSIDE_MESSAGE_CHARS={limits['message_chars']} characters can "
            f"take {need} bytes encoded ({protocol.JSON_BYTES_PER_CHAR_MAX} per character at "
            f"worst, plus {selectors.MESSAGE_OVERHEAD_BYTES} for its other fields), more than "
            f"one page of history may hold under CURBSIDE_FRAME_BYTES={limits['frame_bytes']} "
            f"({budget} bytes: the frame less {selectors.ENVELOPE_BYTES} for the envelope).",
            hint=f"Set CURBSIDE_MESSAGE_CHARS to at most {max(chars, 0)}, or "
                 f"CURBSIDE_FRAME_BYTES to at least {need + selectors.ENVELOPE_BYTES}.",
            id="curbside.E001",
        ))
    if settings.CURBSIDE_SEND_FRAME_BYTES < limits["frame_bytes"]:
        errors.append(Error(
            f"CURBSIDE_SEND_FRAME_BYTES={settings.CURBSIDE_SEND_FRAME_BYTES} is below "
            f"CURBSIDE_FRAME_BYTES={limits['frame_bytes']}: frames the server builds to fit "
            "the frame limit could not be sent.",
            hint="Leave CURBSIDE_SEND_FRAME_BYTES at its default (1 MiB) or raise it.",
            id="curbside.E002",
        ))
    return errors
