"""The Redis ``PresenceStore``: presence shared by every daphne process.

Each mutating call is one Lua script (atomic), so two processes never interleave halfway
through a heartbeat. Heartbeats, the bulk of presence traffic (one per socket every
heartbeat interval), are batched per store — one per event loop, so per process: the ones
that arrive while a batch is in flight go out together as the next batch, one pipeline of
script calls and one round trip for all of them (group commit; nothing waits at rest).
The scripts never read the server clock: the caller's ``now`` and the deadlines derived
from it are passed in, and every expiry is a sorted-set score compared with that ``now``.
docs/presence.md draws the key layout.

All keys share ``prefix``. The scripts touch keys they derive from the user id, which
Redis Cluster forbids unless every key hashes to one slot: wrap the prefix in braces
(``{curbside:presence}``) to run on a cluster.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from core import redis as redis_clients
from presence.store import (
    CONNECTION_TTL_S,
    IDLE_AWAY_S,
    Connection,
    NotOnline,
    Presence,
    PresenceChange,
    PresenceProfile,
    Seen,
    UnknownConnection,
    check_status,
    effective_status,
)

# Shared by every script. ARGV[1] = prefix, ARGV[2] = now, ARGV[3] = IDLE_AWAY_S, ARGV[4] =
# user id. Keys: <p>:u:<user> hash (status, on_call, spec, lang, country, active, reported);
# <p>:c:<user> zset conn -> deadline; <p>:p:<user> hash conn -> process; <p>:online and
# <p>:s:<specialty> zset user -> latest deadline; <p>:conns zset "user\tconn" -> deadline;
# <p>:l:<user> hash (open, offered); <p>:h:<user> set of the case ids whose capacity is held.
_PRELUDE = r"""
local P, NOW_S, IDLE, U = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local now = tonumber(NOW_S)
local function k(kind, id) return P .. ':' .. kind .. ':' .. id end
local ALL, CONNS = P .. ':online', P .. ':conns'

local function view(u)
  local h = redis.call('HGETALL', k('u', u))
  if #h == 0 then return false end
  local conns = redis.call('ZRANGEBYSCORE', k('c', u), '(' .. NOW_S, '+inf', 'WITHSCORES')
  if #conns == 0 then return false end
  local ids = {}
  for i = 1, #conns, 2 do ids[#ids + 1] = conns[i] end
  local procs = redis.call('HMGET', k('p', u), unpack(ids))
  for i = 1, #procs do procs[i] = procs[i] or '' end
  local load = redis.call('HMGET', k('l', u), 'open', 'offered')
  return {u, h, conns, procs, {load[1] or '0', load[2] or ''}}
end

local function visible(u)
  local h = redis.call('HMGET', k('u', u), 'status', 'on_call', 'active')
  if not h[1] then return '' end
  if redis.call('ZCOUNT', k('c', u), '(' .. NOW_S, '+inf') == 0 then return '' end
  local st = h[1]
  if st ~= 'away' and now - tonumber(h[3]) >= IDLE then st = 'away' end
  return st .. '|' .. h[2]
end

local function specs(u)
  local raw = redis.call('HGET', k('u', u), 'spec')
  if not raw then return {} end
  return cjson.decode(raw)
end

local function unindex(u)
  for _, s in ipairs(specs(u)) do redis.call('ZREM', k('s', s), u) end
  redis.call('ZREM', ALL, u)
end

local function drop(u)
  unindex(u)
  for _, c in ipairs(redis.call('ZRANGE', k('c', u), 0, -1)) do
    redis.call('ZREM', CONNS, u .. '\t' .. c)
  end
  redis.call('DEL', k('u', u), k('c', u), k('p', u))
end

local function reindex(u)
  local top = redis.call('ZREVRANGE', k('c', u), 0, 0, 'WITHSCORES')
  redis.call('ZADD', ALL, top[2], u)
  for _, s in ipairs(specs(u)) do redis.call('ZADD', k('s', s), top[2], u) end
end

-- Compare with what subscribers last heard; only a difference is returned as a change.
-- O(1) in the user's connections unless something changed: a heartbeat of a user with
-- many sockets (tabs, devices, or a load generator's thousands) stays cheap.
local function finish(u)
  local prev = redis.call('HGET', k('u', u), 'reported') or ''
  local cur = visible(u)
  local after = false
  if prev ~= cur then after = view(u) end
  if cur == '' then
    drop(u)
  else
    if cur ~= prev then redis.call('HSET', k('u', u), 'reported', cur) end
    reindex(u)
  end
  if prev == cur then return {0} end
  return {1, prev, after}
end

local function live(u)
  return redis.call('EXISTS', k('u', u)) == 1
     and redis.call('ZCOUNT', k('c', u), '(' .. NOW_S, '+inf') > 0
end
"""

# ARGV[5..] = conn, process, deadline, spec json, lang json, country
_CONNECT = (
    _PRELUDE
    + r"""
local conn, proc, deadline = ARGV[5], ARGV[6], ARGV[7]
if live(U) then
  unindex(U)
else
  -- Offline, or only dead connections left: start afresh, but keep what subscribers
  -- last heard so a blip they never saw reports nothing.
  local prev = redis.call('HGET', k('u', U), 'reported')
  drop(U)
  redis.call('HSET', k('u', U), 'status', 'available', 'on_call', '0')
  if prev then redis.call('HSET', k('u', U), 'reported', prev) end
end
redis.call('HSET', k('u', U), 'spec', ARGV[8], 'lang', ARGV[9], 'country', ARGV[10],
           'active', NOW_S)
redis.call('ZADD', k('c', U), deadline, conn)
redis.call('HSET', k('p', U), conn, proc)
redis.call('ZADD', CONNS, deadline, U .. '\t' .. conn)
return finish(U)
"""
)

# ARGV[5..] = conn, deadline, active ('1' or '0')
_HEARTBEAT = (
    _PRELUDE
    + r"""
local conn, deadline = ARGV[5], ARGV[6]
local score = redis.call('ZSCORE', k('c', U), conn)
if not score or tonumber(score) <= now then return {-1} end
redis.call('ZADD', k('c', U), deadline, conn)
redis.call('ZADD', CONNS, deadline, U .. '\t' .. conn)
if ARGV[7] == '1' then redis.call('HSET', k('u', U), 'active', NOW_S) end
return finish(U)
"""
)

# ARGV[5] = conn
_DISCONNECT = (
    _PRELUDE
    + r"""
if redis.call('EXISTS', k('u', U)) == 0 then return {0} end
redis.call('ZREM', k('c', U), ARGV[5])
redis.call('HDEL', k('p', U), ARGV[5])
redis.call('ZREM', CONNS, U .. '\t' .. ARGV[5])
return finish(U)
"""
)

# ARGV[5], ARGV[6] = field, value
_SET = (
    _PRELUDE
    + r"""
if not live(U) then return {-2} end
redis.call('HSET', k('u', U), ARGV[5], ARGV[6], 'active', NOW_S)
return finish(U)
"""
)

# ARGV[4] = '' for everyone, a specialty slug, or ARGV[5] = one user id
_READ = (
    _PRELUDE
    + r"""
local users
if ARGV[5] then
  users = {ARGV[5]}
elseif U == '' then
  users = redis.call('ZRANGEBYSCORE', ALL, '(' .. NOW_S, '+inf')
else
  users = redis.call('ZRANGEBYSCORE', k('s', U), '(' .. NOW_S, '+inf')
end
local out = {}
for _, u in ipairs(users) do
  local v = view(u)
  if v then out[#out + 1] = v end
end
return out
"""
)

_EXPIRE = (
    _PRELUDE
    + r"""
local dead = redis.call('ZRANGEBYSCORE', CONNS, '-inf', NOW_S)
local touched, order = {}, {}
for _, m in ipairs(dead) do
  local tab = string.find(m, '\t', 1, true)
  local u, c = string.sub(m, 1, tab - 1), string.sub(m, tab + 1)
  redis.call('ZREM', CONNS, m)
  redis.call('ZREM', k('c', u), c)
  redis.call('HDEL', k('p', u), c)
  if not touched[u] then touched[u] = true; order[#order + 1] = u end
end
local gone = {}
for _, u in ipairs(order) do
  if redis.call('ZCARD', k('c', u)) == 0 and redis.call('EXISTS', k('u', u)) == 1 then
    drop(u)
    gone[#gone + 1] = u
  end
end
return gone
"""
)

# KEYS[1] = <p>:l:<user>, KEYS[2] = <p>:h:<user> (set of held case ids); ARGV[1] = case id
# or ''. With a case id, only a held case is released (SREM says so): exactly once.
_FINISHED = r"""
local n = tonumber(redis.call('HGET', KEYS[1], 'open') or '0')
if ARGV[1] ~= '' and redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return n end
if n > 0 then n = n - 1 end
redis.call('HSET', KEYS[1], 'open', n)
return n
"""

# Same keys: with a case id, a case already held is not counted twice.
_STARTED = r"""
if ARGV[1] ~= '' and redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  return tonumber(redis.call('HGET', KEYS[1], 'open') or '0')
end
return redis.call('HINCRBY', KEYS[1], 'open', 1)
"""


def _presence(raw: list[Any], now: float) -> Presence:
    user_id, flat, conns, procs, (open_consults, offered) = raw
    h = dict(zip(flat[::2], flat[1::2], strict=True))
    connections = tuple(
        sorted(
            (
                Connection(conn_id=conns[i], process_id=procs[i // 2], expires_at=float(conns[i + 1]))
                for i in range(0, len(conns), 2)
            ),
            key=lambda c: c.conn_id,
        )
    )
    active = float(h["active"])
    return Presence(
        user_id=user_id,
        status=effective_status(h["status"], active, now),
        chosen_status=h["status"],
        on_call=h["on_call"] == "1",
        specialties=tuple(json.loads(h["spec"])),
        languages=tuple(json.loads(h["lang"])),
        country=h["country"],
        last_active_at=active,
        connections=connections,
        open_consults=int(open_consults),
        last_offered_at=float(offered) if offered else None,
    )


class RedisPresenceStore:
    """``PresenceStore`` on Redis; one script call (one round trip) per operation, except
    heartbeats: concurrent ones share one pipeline (``_send_beats``)."""

    def __init__(self, redis: Redis, *, prefix: str,
                 connection_ttl_s: float = CONNECTION_TTL_S) -> None:
        self._ttl = connection_ttl_s
        self._redis = redis
        self._prefix = prefix
        self._scripts = {
            name: redis.register_script(src)
            for name, src in {
                "connect": _CONNECT,
                "heartbeat": _HEARTBEAT,
                "disconnect": _DISCONNECT,
                "set": _SET,
                "read": _READ,
                "expire": _EXPIRE,
                "finished": _FINISHED,
                "started": _STARTED,
            }.items()
        }
        # Heartbeats waiting for the next pipeline: (script args, future of the reply).
        self._beats: list[tuple[list[str], asyncio.Future]] = []
        self._beat_task: asyncio.Task | None = None
        # Pipelines sent for heartbeats (tests/presence check the batching with it).
        self.heartbeat_round_trips = 0

    @classmethod
    def from_url(cls, redis_url: str, *, prefix: str, connection_ttl_s: float = CONNECTION_TTL_S,
                 max_connections: int = 200) -> RedisPresenceStore:
        # The pool policy (blocking, no per-connection metadata read) is core.redis's.
        client = redis_clients.async_client(redis_url, max_connections=max_connections,
                                            decode_responses=True)
        return cls(client, prefix=prefix, connection_ttl_s=connection_ttl_s)

    async def _run(self, name: str, user_id: str, now: float, *extra: str) -> Any:
        args = [self._prefix, repr(float(now)), repr(IDLE_AWAY_S), user_id, *extra]
        return await self._scripts[name](keys=[], args=args)

    def _change(self, user_id: str, reply: list[Any], now: float) -> PresenceChange | None:
        if reply[0] == 0:
            return None
        # A nil ``after`` (went offline) arrives as None; '' means "heard offline".
        previous, after = reply[1], reply[2] if len(reply) > 2 else None
        seen = None
        if previous:
            status, on_call = previous.split("|")
            seen = Seen(status, on_call == "1")
        return PresenceChange(user_id=user_id, previous=seen, after=_presence(after, now) if after else None)

    async def connect(
        self, *, user_id: str, conn_id: str, process_id: str, profile: PresenceProfile, now: float
    ) -> PresenceChange | None:
        if "\t" in user_id or "\t" in conn_id:
            # The sweep index joins them with a tab (``<user>\t<conn>``).
            raise ValueError("user and connection ids must not contain a tab")
        reply = await self._run(
            "connect",
            user_id,
            now,
            conn_id,
            process_id,
            repr(float(now + self._ttl)),
            json.dumps(list(profile.specialties)),
            json.dumps(list(profile.languages)),
            profile.country,
        )
        return self._change(user_id, reply, now)

    async def heartbeat(
        self, *, user_id: str, conn_id: str, now: float, active: bool = False
    ) -> PresenceChange | None:
        args = [self._prefix, repr(float(now)), repr(IDLE_AWAY_S), user_id, conn_id,
                repr(float(now + self._ttl)), "1" if active else "0"]
        future = asyncio.get_running_loop().create_future()
        self._beats.append((args, future))
        if self._beat_task is None or self._beat_task.done():
            self._beat_task = asyncio.create_task(self._send_beats())
        reply = await future
        if reply[0] == -1:
            raise UnknownConnection(user_id, conn_id)
        return self._change(user_id, reply, now)

    async def _send_beats(self) -> None:
        """Send what is queued as one pipeline, then what queued meanwhile, until empty.
        Each heartbeat is still its own atomic script call, in arrival order; a failed
        round trip fails every heartbeat of its batch (as it would have failed each alone)."""
        while self._beats:
            batch, self._beats = self._beats, []
            try:
                replies = await self._heartbeat_pipeline([args for args, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), reply in zip(batch, replies, strict=True):
                if not future.done():
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)

    async def _heartbeat_pipeline(self, batch: list[list[str]]) -> list[Any]:
        script = self._scripts["heartbeat"]
        for attempt in (1, 2):
            self.heartbeat_round_trips += 1
            async with self._redis.pipeline(transaction=False) as pipe:
                for args in batch:
                    pipe.evalsha(script.sha, 0, *args)
                replies = await pipe.execute(raise_on_error=False)
            if attempt == 1 and any(isinstance(r, NoScriptError) for r in replies):
                # A Redis that restarted (or SCRIPT FLUSH) forgot the script: load it, resend.
                await self._redis.script_load(_HEARTBEAT)
                continue
            return replies
        return replies

    async def disconnect(self, *, user_id: str, conn_id: str, now: float) -> PresenceChange | None:
        return self._change(user_id, await self._run("disconnect", user_id, now, conn_id), now)

    async def _set(self, user_id: str, field: str, value: str, now: float) -> PresenceChange | None:
        reply = await self._run("set", user_id, now, field, value)
        if reply[0] == -2:
            raise NotOnline(user_id)
        return self._change(user_id, reply, now)

    async def set_status(self, *, user_id: str, status: str, now: float) -> PresenceChange | None:
        return await self._set(user_id, "status", check_status(status), now)

    async def set_on_call(self, *, user_id: str, on_call: bool, now: float) -> PresenceChange | None:
        return await self._set(user_id, "on_call", "1" if on_call else "0", now)

    async def get(self, user_id: str, *, now: float) -> Presence | None:
        rows = await self._run("read", "", now, user_id)
        return _presence(rows[0], now) if rows else None

    async def online(self, *, specialty: str | None = None, now: float) -> list[Presence]:
        rows = await self._run("read", specialty or "", now)
        return sorted((_presence(r, now) for r in rows), key=lambda p: p.user_id)

    async def online_count(self, *, specialty: str | None = None, now: float) -> int:
        key = f"{self._prefix}:s:{specialty}" if specialty else f"{self._prefix}:online"
        return await self._redis.zcount(key, f"({float(now)!r}", "+inf")

    async def expire(self, *, now: float) -> list[str]:
        return list(await self._run("expire", "", now))

    def _load_key(self, user_id: str) -> str:
        return f"{self._prefix}:l:{user_id}"

    async def consults_open(self, user_id: str) -> int:
        return int(await self._redis.hget(self._load_key(user_id), "open") or 0)

    def _held_key(self, user_id: str) -> str:
        return f"{self._prefix}:h:{user_id}"

    async def consult_started(self, *, user_id: str, case_id: str | None = None) -> int:
        return int(await self._scripts["started"](
            keys=[self._load_key(user_id), self._held_key(user_id)], args=[case_id or ""]))

    async def consult_finished(self, *, user_id: str, case_id: str | None = None) -> int:
        return int(await self._scripts["finished"](
            keys=[self._load_key(user_id), self._held_key(user_id)], args=[case_id or ""]))

    async def consults_held(self, user_id: str) -> set[str]:
        return set(await self._redis.smembers(self._held_key(user_id)))

    async def holders(self) -> dict[str, set[str]]:
        # SCAN, not KEYS: it never blocks Redis, and an empty set's key does not exist.
        keys = [key async for key in self._redis.scan_iter(match=f"{self._prefix}:h:*",
                                                           count=500)]
        if not keys:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.smembers(key)
            members = await pipe.execute()
        skip = len(self._prefix) + 3  # "<prefix>:h:"
        return {key[skip:]: set(held) for key, held in zip(keys, members, strict=True) if held}

    async def mark_offered(self, *, user_id: str, now: float) -> None:
        await self._redis.hset(self._load_key(user_id), "offered", repr(float(now)))

    async def mark_offered_many(self, *, user_ids: list[str], now: float) -> None:
        if not user_ids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.hset(self._load_key(user_id), "offered", repr(float(now)))
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()
