"""The token bucket and the retry hint a rate_limited reply carries (core/limits.py)."""

from __future__ import annotations

from core.limits import TokenBucket, retry_after_s


def test_a_refused_take_never_says_retry_after_zero():
    bucket = TokenBucket(rate=5.0, burst=1.0)
    assert bucket.take(100.0) == 0.0
    wait = bucket.take(100.0 + 0.1999)  # 0.0001 s short of the next token
    assert 0 < wait < 0.0005
    assert retry_after_s(wait) == 0.001  # rounded up to a millisecond, not down to 0.0
    assert retry_after_s(0.2) == 0.2 and retry_after_s(0.2004) == 0.201
