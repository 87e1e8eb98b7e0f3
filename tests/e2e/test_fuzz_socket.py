"""Property-based fuzzing of every socket op over a real daphne (PostgreSQL, Redis).

Hypothesis draws frames from the op schemas (tests/support/frames.py): valid ones with
hostile values, and frames with one thing wrong. For each frame the invariants are:

* the frame gets exactly one reply; an error carries a code of ``protocol.ERROR_CODES`` and
  never ``internal``; a frame the schema refuses gets the code the schema names (``bad_frame``,
  ``unknown_op``, ``bad_request``); a valid ``ref`` is echoed, an invalid one never is;
* the socket is not closed (no frame here is over the 64 KB limit, the one close a client
  can cause by what it sends: docs/protocol.md) and answers a ``ping`` right after;

and after the run: another physician's socket still answers, and a message acknowledged
before the fuzzing is still in the room's history, unchanged.

Deterministic in CI: ``derandomize=True`` and no example database (the same examples every
run); example counts keep the module near 30 s on the CI machine. A failure found here
becomes an explicit test in tests/e2e/test_fuzz_regressions.py.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from django.conf import settings
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings

from bus import protocol
from tests.support import frames
from tests.support.clients import Http, connect, recv_json, request
from tests.support.servers import start_daphne

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the e2e suite runs on Redis"),
]

# The fuzz socket's own lounge (no other test writes to it) and its specialty.
SPECIALTY = "sleep-medicine"
LOUNGE = f"lounge-{SPECIALTY}"
# Examples per hostile case (frames.hostile_cases(): ~200, every op × field × mutation) and
# per op for valid frames: every case is reached, and the module stays near 30 s in CI.
EXAMPLES_PER_CASE = 3
VALID_EXAMPLES_PER_OP = 6
# How often a frame is sent again after ``rate_limited`` (it waits the advised time first).
RATE_RETRIES = 5
FUZZ = hypothesis_settings(
    deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
# The fuzz server: the per-user message bucket lifted so that valid sends are stored, not
# refused rate_limited (the frame bucket stays: its refusals are answered and retried).
FUZZ_ENV = {"CURBSIDE_MESSAGES_PER_S": "1000", "CURBSIDE_MESSAGE_BURST": "1000"}


@pytest.fixture(scope="module")
def fuzz_server(live_database_url, tmp_path_factory):
    server = start_daphne(live_database_url, tmp_path_factory, **FUZZ_ENV)
    yield server
    server.stop()


async def _reply(ws, ref) -> dict:
    """The reply carrying ``ref`` (None: an unreadable or refused ref); events are dropped."""
    while True:
        frame = await recv_json(ws)
        if frame.get("op") == "reply" and frame.get("ref") == ref:
            return frame


def _rate_limited(reply: dict) -> float | None:
    error = reply.get("error") or {}
    if error.get("code") != protocol.RATE_LIMITED:
        return None
    return float(error.get("details", {}).get("retry_after_s", 1.0))


async def _exchange(ws, frame: frames.Frame) -> dict:
    """Send ``frame`` and return its reply; ``rate_limited`` is retried after the wait the
    server names (it is answered before the op runs, so a retry duplicates nothing)."""
    for _ in range(RATE_RETRIES):
        await ws.send(frame.text)
        reply = await _reply(ws, frame.ref)
        wait = _rate_limited(reply)
        if wait is None:
            return reply
        await asyncio.sleep(wait)
    raise AssertionError(f"still rate_limited after {RATE_RETRIES} tries: {frame!r}")


async def _ping(ws, n: int) -> dict:
    ref = f"ping-{n}"
    for _ in range(RATE_RETRIES):
        reply = await request(ws, "ping", ref=ref)
        wait = _rate_limited(reply)
        if wait is None:
            return reply
        await asyncio.sleep(wait)
    raise AssertionError("ping still rate_limited")


async def _check(ws, frame: frames.Frame, n: int) -> None:
    event(frame.kind.split(":")[0])  # --hypothesis-show-statistics shows the mix
    expected = frames.refusal_code(frame)
    assert expected != protocol.INTERNAL, f"the parser itself failed on {frame!r}"
    if frame.refused:
        assert expected is not None, f"the strategy built a frame the schema accepts: {frame!r}"
    reply = await _exchange(ws, frame)
    assert reply["ref"] == frame.ref, (frame, reply)
    if not reply["ok"]:
        code = reply["error"]["code"]
        assert code in protocol.ERROR_CODES and code != protocol.INTERNAL, (frame, reply)
    if expected is not None:
        assert reply["ok"] is False and reply["error"]["code"] == expected, (frame, reply)
    pong = await _ping(ws, n)
    assert pong["ok"] is True, (frame, pong)


def _open(server, make_physician, loop, **kw):
    physician, email, password = make_physician(**kw)
    http = Http(server.http)
    http.login(email, password)

    async def opened():
        ws = await connect(server.ws, http.ticket())
        assert (await recv_json(ws))["type"] == "session.welcome"
        return ws

    return loop.run_until_complete(opened())


def test_hostile_and_valid_frames_never_crash_a_socket_nor_lose_a_message(fuzz_server,
                                                                          make_physician):
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    opened = []
    try:
        fuzzer = _open(fuzz_server, make_physician, loop, specialty=SPECIALTY)
        bystander = _open(fuzz_server, make_physician, loop, specialty=SPECIALTY)
        opened += [fuzzer, bystander]
        for ws in (fuzzer, bystander):
            assert run(request(ws, "room.join", room=LOUNGE))["ok"] is True
        # Posted by the bystander: the fuzzer's valid edits and deletes may not touch it.
        kept = run(request(bystander, "message.send", room=LOUNGE, client_id="kept-1",
                           body="acknowledged before the fuzzing"))
        assert kept["ok"] is True, kept
        # Valid frames name the fuzz lounge (joined) besides rooms the socket is not in.
        frames.ROOMS.insert(0, LOUNGE)
        counter = iter(range(10**9))

        def throw(strategy, examples: int) -> None:
            @hypothesis_settings(FUZZ, max_examples=examples)
            @given(strategy)
            def exchange(frame):
                run(_check(fuzzer, frame, next(counter)))

            exchange()

        for strategy in frames.hostile_cases().values():
            throw(strategy, EXAMPLES_PER_CASE)
        for op in sorted(frames.OPS):
            throw(frames.valid_frames([op]), VALID_EXAMPLES_PER_OP)

        # Another physician's socket kept working, and the acknowledged message is intact.
        assert run(_ping(bystander, -1))["ok"] is True
        seq = kept["data"]["seq"]
        page = run(request(bystander, "room.history", room=LOUNGE, before=seq + 1, limit=1))
        assert page["ok"] is True, page
        assert [(m["seq"], m["body"]) for m in page["data"]["messages"]] == [
            (seq, "acknowledged before the fuzzing")], json.dumps(page)[:500]
    finally:
        if LOUNGE in frames.ROOMS:
            frames.ROOMS.remove(LOUNGE)
        for ws in opened:
            run(ws.close())
        loop.close()


def test_every_op_and_field_has_its_hostile_cases():
    """The strategies follow the schema: a new op or field gets its cases without an edit
    to tests/support/frames.py (or fails here when a field type has no strategy)."""
    cases = frames.hostile_cases()
    for op, fields in frames.FIELDS.items():
        assert f"extra_field:{op}" in cases
        for f in fields:
            assert f"wrong_type:{op}.{f.name}" in cases
            if f.required:
                assert f"missing:{op}.{f.name}" in cases
    assert {"reserved_op", "dollar_op", "unknown_op", "bad_ref", "no_frame", "too_deep"} <= set(cases)
    assert set(frames.OPS) == {t.__struct_config__.tag for t in protocol.REQUEST_TYPES}
