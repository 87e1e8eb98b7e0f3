"""Rate limits as plain values: a token bucket whose clock is passed in."""

from __future__ import annotations

import math
from dataclasses import dataclass


def retry_after_s(wait: float) -> float:
    """A refused take's wait as the client is told it: whole milliseconds, rounded up, so a
    short wait never reads 0.0 (a client retrying at once would be refused again)."""
    return math.ceil(wait * 1000) / 1000


@dataclass
class TokenBucket:
    """``rate`` tokens per second up to ``burst``; ``take(now)`` spends one.

    Returns 0.0 when a token was available, else the seconds until one will be (the
    ``retry_after_s`` a client is told)."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float) -> float:
        if self.tokens < 0:  # first use: start full
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate
