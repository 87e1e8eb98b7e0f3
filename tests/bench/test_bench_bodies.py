"""The bench's message bodies never trip the PHI guard (issue 17, point 5).

The load generator stamps each body with its run, sender, message number and send time; in
digits those clock values could read as phone numbers, the server refused the messages and a
topology measured nothing. Every body the generator can make must pass ``phi_guard`` and
read back to what was put in.
"""

from __future__ import annotations

import random

from bench.phi import CLEAN, DIRTY, _at_200
from bench.wire import KEY_SPAN, body_of, parse_body
from phi.guard import phi_guard, phi_scan


def test_bench_bodies_pass_the_phi_guard_and_read_back():
    rnd = random.Random(17)
    cases = [("r942195372", 0, 0, 942.195372), ("r612345678", 7, 999_999, 612345678.0)]
    cases += [(f"r{rnd.randrange(10**9)}", rnd.randrange(5000), rnd.randrange(KEY_SPAN),
               rnd.uniform(0, 10**7)) for _ in range(3000)]
    for run, sender, n, ts in cases:
        body = body_of(run, sender, n, ts)
        assert phi_guard(body, field="body") == [], body
        key, sent = parse_body(run, body)
        assert key == sender * KEY_SPAN + n
        assert abs(sent - ts) < 1e-6


def test_a_body_of_another_run_is_not_read_as_ours():
    assert parse_body("r1", body_of("r2", 1, 1, 1.0)) is None
    assert parse_body("r1", "hello|there") is None


def test_the_phi_bench_times_clean_texts_that_are_clean_and_dirty_ones_that_are_not():
    """bench/phi.py's 200-character figure is for messages the guard passes (the target is
    for the common case): a clean text that trips the guard would time another path."""
    for text in CLEAN:
        assert len(_at_200(text)) == 200
        assert phi_scan(_at_200(text)) == [], text
    for text in DIRTY:
        assert phi_scan(text), text
