"""The process's keyring, loaded once from Django settings (the only Django import here)."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from crypto.keyring import Keyring, load_keyring


@lru_cache(maxsize=1)
def keyring() -> Keyring:
    return load_keyring(
        inline=settings.CURBSIDE_KEYRING,
        path=settings.CURBSIDE_KEYRING_FILE,
        autocreate=settings.CURBSIDE_KEYRING_AUTOCREATE,
    )


def reset() -> None:
    """Forget the cached keyring (after ``keys rotate`` in the same process, and in tests)."""
    keyring.cache_clear()
