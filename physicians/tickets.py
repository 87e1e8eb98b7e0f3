"""Stateless single-use WebSocket tickets, and the store that makes them single use.

A ticket is sealed with AES-256-GCM under a key derived from the keyring (nothing is stored
when one is issued): it carries the user id, its expiry and a random 128-bit nonce, so the
URL it travels in (``/ws/v1/?ticket=…``, which lands in access logs) reveals neither the
user nor anything a reader could forge or extend. A ticket issued to a browser session also
carries that session's *reference* — the digest that names its socket group
(``bus.hub.session_group``: a keyed hash of the session key, never the key itself), so the
socket it opens joins the session's group and closes when that session logs out.
Redeeming one opens it (a tampered, foreign or expired ticket fails there) and then
*spends* its nonce in a spent-nonce store; a nonce that was spent before is a replay.

Layout (base64url, no padding): ``format (1) ‖ personal KEK version (uint32 BE) ‖
GCM nonce (12) ‖ ciphertext of user id (16) ‖ expiry ms (uint64 BE) ‖ nonce (16) ‖
store epoch (8) ‖ session reference (20, zeros: none) ‖ tag (16)``, with the header bound
as associated data. The key is
``HKDF-SHA256(personal KEK, info = "curbside/ws-ticket/v1")``: a separate key from the one
that wraps personal data, rotated with it (a ticket lives ≤ 30 s, so a rotation invalidates
at most the tickets in flight once the old version is retired).

The spent-nonce store has one implementation per deployment shape (STYLE.md): a Redis
``SET NX EX`` shared by every process when ``REDIS_URL`` is set, a process-local dict for
the embedded default (one process). An entry lives until its ticket would have expired
anyway, plus ``CLOCK_SKEW_S``.

A store that loses its entries must not let a spent ticket work again (docs/security.md,
"Single-use tickets and a Redis that forgets"). So every store has an *epoch*, a random id
kept next to its nonces — in Redis a key without expiry, in memory a value of the process —
and every ticket carries the epoch of the store at the time it was issued. A ticket is
redeemed only under the epoch it carries. A Redis restarted empty or flushed loses the
epoch together with the nonces; the next issue or redeem draws a new one, so every ticket
issued before — spent or not — is refused like an expired one (clients ask for a new ticket
for every connection anyway). No clock is compared: the epoch alone says whether the
store's memory reaches back to the ticket.
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

TICKET_FORMAT = 3  # 2: with the store's epoch; 3: with the browser session's reference
_HEADER = struct.Struct(">BI")  # format, personal KEK version
# user id, expiry (ms since the epoch), nonce, store epoch, session reference
_BODY = struct.Struct(">16sQ16s8s20s")
_INFO = b"curbside/ws-ticket/v1"
NONCE_BYTES = 16
EPOCH_BYTES = 8
# An epoch no store ever has (``new_epoch`` never draws it): a ticket sealed without one.
NO_EPOCH = bytes(EPOCH_BYTES)
# A session reference is the hex digest of a session group ("s." + 40 hex digits).
SESSION_REF_BYTES = 20
NO_SESSION = bytes(SESSION_REF_BYTES)
# How long a process trusts the epoch it last read from Redis when it issues a ticket. Right
# after Redis lost its data a process may issue tickets under the old epoch for this long;
# they are refused, and the client's next ticket is good.
EPOCH_CACHE_S = 1.0
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
    epoch: bytes  # the spent-nonce store's epoch when it was issued
    session_group: str | None = None  # the browser session's socket group, if one asked


def new_epoch() -> bytes:
    while (epoch := secrets.token_bytes(EPOCH_BYTES)) == NO_EPOCH:
        pass
    return epoch


@lru_cache(maxsize=8)
def _derive(kek: bytes) -> bytes:
    return aead.hkdf_sha256(kek, info=_INFO)


def _session_ref(group: str | None) -> bytes:
    if group is None:
        return NO_SESSION
    if not group.startswith("s.") or len(group) != 2 + 2 * SESSION_REF_BYTES:
        raise ValueError("not a session group")
    return bytes.fromhex(group[2:])


def ticket_seal(*, user_id: str, expires_at: float, epoch: bytes = NO_EPOCH,
                session_group: str | None = None) -> str:
    """A ticket for ``user_id`` valid until ``expires_at`` (seconds since the epoch), under
    the spent-nonce store's ``epoch`` (``SpentNonces.epoch``; without one it never redeems).
    ``session_group`` (``bus.hub.session_group`` of the browser session that asks; None for
    a ticket by password) is sealed in, so the socket closes with that session."""
    version, kek = keyring().active("personal")
    header = _HEADER.pack(TICKET_FORMAT, version)
    body = _BODY.pack(uuid.UUID(user_id).bytes, int(expires_at * 1000),
                      secrets.token_bytes(NONCE_BYTES), epoch, _session_ref(session_group))
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
        raw_user, expires_ms, nonce, epoch, session_ref = _BODY.unpack(body)
    except (ValueError, binascii.Error, struct.error, aead.DecryptError, KeyringError):
        return None  # KeyringError: sealed under a version this keyring no longer holds
    expires_at = expires_ms / 1000
    if now > expires_at:
        return None
    return Ticket(user_id=str(uuid.UUID(bytes=raw_user)), expires_at=expires_at, nonce=nonce,
                  epoch=epoch,
                  session_group=None if session_ref == NO_SESSION else "s." + session_ref.hex())


# --- the spent-nonce store -----------------------------------------------------------------

class SpentNonces(Protocol):
    async def epoch(self) -> bytes:
        """The store's current epoch, for the tickets issued now."""
        ...

    async def spend(self, nonce: bytes, *, expires_at: float, now: float,
                    epoch: bytes | None = None) -> bool:
        """Mark ``nonce`` spent; True the first time, False when it was spent before — or
        when ``epoch`` (the ticket's) is not the store's: the store may have forgotten it.
        ``epoch=None`` checks the nonce alone (the store's contract tests)."""
        ...


class MemorySpentNonces:
    """Embedded (one process): nonce → when it may be forgotten. Its epoch is drawn when
    the process builds it, so a restart (which forgets every nonce) refuses older tickets."""

    def __init__(self) -> None:
        self._spent: dict[bytes, float] = {}
        self._since_sweep = 0
        self._epoch = new_epoch()

    async def epoch(self) -> bytes:
        return self._epoch

    async def spend(self, nonce: bytes, *, expires_at: float, now: float,
                    epoch: bytes | None = None) -> bool:
        if epoch is not None and epoch != self._epoch:
            return False
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


# The epoch, drawn by whoever finds it missing (ARGV[1]: a fresh one to use then).
_EPOCH_LUA = """
local e = redis.call('GET', KEYS[1])
if not e then
  e = ARGV[1]
  redis.call('SET', KEYS[1], e)
end
return e
"""
# Spend under an epoch, in one round trip: {1 spent now | 0 refused, the store's epoch}.
_SPEND_LUA = """
local e = redis.call('GET', KEYS[1])
if not e then
  e = ARGV[1]
  redis.call('SET', KEYS[1], e)
end
if e ~= ARGV[2] then return {0, e} end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then return {1, e} end
return {0, e}
"""


class RedisSpentNonces:
    """Shared by every process: ``SET <prefix><nonce> 1 NX EX <ttl>``, one round trip; the
    epoch is ``<prefix>epoch``, a key without expiry that goes only with the data."""

    def __init__(self, client, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._epoch_key = prefix + "epoch"
        self._epoch_script = client.register_script(_EPOCH_LUA)
        self._spend_script = client.register_script(_SPEND_LUA)
        self._epoch: bytes | None = None
        self._epoch_read = 0.0

    async def epoch(self) -> bytes:
        loop_now = asyncio.get_running_loop().time()
        if self._epoch is None or loop_now - self._epoch_read > EPOCH_CACHE_S:
            self._epoch = bytes(await self._epoch_script(keys=[self._epoch_key],
                                                         args=[new_epoch()]))
            self._epoch_read = loop_now
        return self._epoch

    async def spend(self, nonce: bytes, *, expires_at: float, now: float,
                    epoch: bytes | None = None) -> bool:
        ttl = max(1, math.ceil(expires_at - now + CLOCK_SKEW_S))
        key = self._prefix + nonce.hex()
        if epoch is None:
            return bool(await self._redis.set(key, b"1", nx=True, ex=ttl))
        spent, current = await self._spend_script(keys=[self._epoch_key, key],
                                                  args=[new_epoch(), epoch, ttl])
        self._epoch, self._epoch_read = bytes(current), asyncio.get_running_loop().time()
        return bool(spent)


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
