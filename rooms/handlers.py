"""The op → handler table of the socket. Op modules register with ``@handles``; the consumer
looks handlers up here. Kept apart from the consumer so op modules never import it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rooms import protocol

Handler = Callable[[Any, Any], Awaitable[Any]]
HANDLERS: dict[type[protocol.Request], Handler] = {}


def handles(op_type: type[protocol.Request]) -> Callable[[Handler], Handler]:
    """Register the handler of one op; the op's schema joins the protocol's decoder."""

    def register(fn: Handler) -> Handler:
        protocol.register_ops(op_type)
        HANDLERS[op_type] = fn
        return fn

    return register
