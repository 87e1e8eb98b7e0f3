"""Stateless single-use WebSocket tickets, and the store that makes them single use.

A ticket is sealed with AES-256-GCM under a key derived from the keyring (nothing is stored
when one is issued): it carries the user id, its expiry and a random 128-bit nonce, so the
URL it travels in (``/ws/v1/?ticket=…``, which lands in access logs) reveals neither the
user nor anything a reader could forge or extend. Redeeming one opens it (a tampered,
foreign or expired ticket fails there) and then *spends* its nonce in a spent-nonce store;
a nonce that was spent before is a replay.

Layout (base64url, no padding): ``format (1) ‖ personal KEK version (uint32 BE) ‖
GCM nonce (12) ‖ ciphertext of user id (16) ‖ expiry ms (uint64 BE) ‖ nonce (16) ‖ tag (16)``,
with the header bound as associated data. The key is ``HKDF-SHA256(personal KEK, info =
"curbside/ws-ticket/v1")``: a separate key from the one that wraps personal data, rotated
with it (a ticket lives ≤ 30 s, so a rotation invalidates at most the tickets in flight
once the old version is retired).

The spent-nonce store has one implementation per deployment shape (STYLE.md): a Redis
``SET NX EX`` shared by every process when ``REDIS_URL`` is set, a process-local dict for
the embedded default (one process). An entry lives until its ticket would have expired
anyway, plus ``CLOCK_SKEW_S``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import secrets
import struct
import uuid
import weakref
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from core import redis as redis_clients
from crypto import aead
from crypto.keyring import KeyringError
from crypto.keys import keyring

TICKET_FORMAT = 1
_HEADER = struct.Struct(">BI")  # format, personal KEK version
_BODY = struct.Struct(">16sQ16s")  # user id, expiry (ms since the epoch), nonce
_INFO = b"curbside/ws-ticket/v1"
NONCE_BYTES = 16
# Processes on several hosts may disagree on the time by this much: a spent nonce is kept
# that long past its ticket's expiry so no host can still accept the ticket then.
CLOCK_SKEW_S = 5.0
# The embedded store sweeps expired nonces when it has grown by this many entries.
SWEEP_EVERY = 1024


@dataclass(frozen=True, slots=True)
class Ticket:
    user_id: str
    expires_at: float  # seconds since the epoch
    nonce: bytes


@lru_cache(maxsize=8)
def _derive(kek: bytes) -> bytes:
    return aead.hkdf_sha256(kek, info=_INFO)


def ticket_seal(*, user_id: str, expires_at: float) -> str:
    """A ticket for ``user_id`` valid until ``expires_at`` (seconds since the epoch)."""
    version, kek = keyring().active("personal")
    header = _HEADER.pack(TICKET_FORMAT, version)
    body = _BODY.pack(uuid.UUID(user_id).bytes, int(expires_at * 1000),
                      secrets.token_bytes(NONCE_BYTES))
    blob = header + aead.seal(_derive(kek), body, _INFO + header)
    return base64.urlsafe_b64encode(blob).rstrip(b"=").decode()


def ticket_open(ticket: str, *, now: float) -> Ticket | None:
    """The ticket's contents, or None when it is malformed, tampered with, sealed under a
    key this keyring does not hold, or expired. Does not spend it."""
    if not ticket or len(ticket) > 200:
        return None
    try:
        blob = base64.urlsafe_b64decode(ticket + "=" * (-len(ticket) % 4))
        fmt, version = _HEADER.unpack_from(blob)
        if fmt != TICKET_FORMAT:
            return None
        kek = keyring().key("personal", version)
        body = aead.open_(_derive(kek), blob[_HEADER.size:], _INFO + blob[:_HEADER.size])
        raw_user, expires_ms, nonce = _BODY.unpack(body)
    except (ValueError, binascii.Error, struct.error, aead.DecryptError, KeyringError):
        return None  # KeyringError: sealed under a version this keyring no longer holds
    expires_at = expires_ms / 1000
    if now > expires_at:
        return None
    return Ticket(user_id=str(uuid.UUID(bytes=raw_user)), expires_at=expires_at, nonce=nonce)


# --- the spent-nonce store -----------------------------------------------------------------

class SpentNonces(Protocol):
    async def spend(self, nonce: bytes, *, expires_at: float, now: float) -> bool:
        """Mark ``nonce`` spent; True the first time, False when it was spent before."""
        ...


class MemorySpentNonces:
    """Embedded (one process): nonce → when it may be forgotten."""

    def __init__(self) -> None:
        self._spent: dict[bytes, float] = {}
        self._since_sweep = 0

    async def spend(self, nonce: bytes, *, expires_at: float, now: float) -> bool:
        return self.spend_now(nonce, expires_at=expires_at, now=now)

    def spend_now(self, nonce: bytes, *, expires_at: float, now: float) -> bool:
        if self._since_sweep >= SWEEP_EVERY:
            self._since_sweep = 0
            self._spent = {n: t for n, t in self._spent.items() if t > now}
        forget_at = self._spent.get(nonce)
        if forget_at is not None and forget_at > now:
            return False
        self._spent[nonce] = expires_at + CLOCK_SKEW_S
        self._since_sweep += 1
        return True

    def __len__(self) -> int:
        return len(self._spent)


class RedisSpentNonces:
    """Shared by every process: ``SET <prefix><nonce> 1 NX EX <ttl>``, one round trip."""

    def __init__(self, client, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    async def spend(self, nonce: bytes, *, expires_at: float, now: float) -> bool:
        ttl = max(1, math.ceil(expires_at - now + CLOCK_SKEW_S))
        return bool(await self._redis.set(self._prefix + nonce.hex(), b"1", nx=True, ex=ttl))


_memory: MemorySpentNonces | None = None
# One Redis client per event loop: a redis.asyncio connection belongs to the loop that
# opened it (tests run several loops). Keyed weakly by the loop object.
_redis: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisSpentNonces] = (
    weakref.WeakKeyDictionary())


def spent_nonces() -> SpentNonces:
    """This process's spent-nonce store, built from settings."""
    from django.conf import settings

    global _memory
    if not settings.REDIS_URL:
        if _memory is None:
            _memory = MemorySpentNonces()
        return _memory
    loop = asyncio.get_running_loop()
    store = _redis.get(loop)
    if store is None:
        prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] + ":ticket:"
        store = _redis[loop] = RedisSpentNonces(
            redis_clients.async_client(settings.REDIS_URL,
                                       max_connections=settings.REDIS_POOL_SIZE,
                                       pool_wait_s=30), prefix)
    return store


def reset() -> None:
    """Forget this process's stores (tests)."""
    global _memory
    _memory = None
    _redis.clear()
