"""Handlers of the socket ops: each validates access, calls one service, returns reply data.

Handlers receive the consumer (for its identity and per-socket state) and the parsed
request; they raise ``consult.errors`` exceptions, which the consumer turns into replies.
"""

from __future__ import annotations

import time

from rooms import protocol
from rooms.consumers import handles


@handles(protocol.Ping)
async def ping(conn, request: protocol.Ping) -> protocol.PongData:
    return protocol.PongData(server_time=time.time())
