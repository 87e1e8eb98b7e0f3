"""The scenarios of issue 6. Each takes a running Cluster and returns result rows (dicts);
``bench.__main__`` runs every scenario on every topology for Curbside and the baseline, side
by side, prints the tables and writes the JSON.

Correctness is measured with the speed: every acknowledged message must reach every member
of its room exactly once (``lost`` and ``dup`` must be 0 for Curbside).
"""

from __future__ import annotations

import subprocess
import sys
import time
from array import array
from pathlib import Path

from bench import report
from bench.cluster import Cluster

# Lounges used per scenario (distinct, so one scenario's history never slows another's join).
FANOUT_LOUNGES = {100: "lounge-cardiology", 1000: "lounge-dermatology"}
RECONNECT_LOUNGE = "lounge-anesthesiology"
SENDERS = 10
QUIET_S = 1.5
DRAIN_MAX_S = 30.0


def _spec(cluster: Cluster, k: int, **kw) -> dict:
    return {"i": k, "port": cluster.ports[k % len(cluster.ports)], "user": k, **kw}


def idle(cluster: Cluster, sockets: int) -> dict:
    """Open ``sockets`` idle sockets (ticket + handshake for Curbside; the tutorial has no
    authentication): time to open them all, server RSS per socket, CPU at rest."""
    rss0 = cluster.rss()
    specs = [_spec(cluster, k) for k in range(sockets)]
    opened = cluster.open(specs)
    time.sleep(2.0)  # let the allocator settle before reading RSS
    rss1 = cluster.rss()
    cpu0, t0 = cluster.cpu(), time.monotonic()
    time.sleep(5.0)
    rest = (cluster.cpu() - cpu0) / (time.monotonic() - t0)
    cluster.close()
    return {"sockets": sockets, "opened": opened["opened"], "failed": opened["failed"],
            "open_retries": opened.get("retries", 0),
            "open_s": round(opened["elapsed_s"], 2),
            "rss_before_mb": round(rss0 / 2**20, 1), "rss_after_mb": round(rss1 / 2**20, 1),
            "kb_per_socket": round((rss1 - rss0) / 1024 / max(1, opened["opened"]), 1),
            "cpu_rest_pct": round(rest * 100, 1), "errors": opened["errors"]}


def load(cluster: Cluster, *, sizes: dict[str, int], duration: float, rate: float | None,
         count: int | None = None, profile: bool | None = None) -> dict:
    """One load phase over the open sockets, then the drain and the correctness check.
    ``sizes`` is room → members; ``rate`` per sender (None = closed loop). ``profile``
    (default: closed-loop phases only) samples the first server with py-spy."""
    start = time.monotonic() + 0.5
    cpu0, wcpu0 = cluster.cpu(), cluster.worker_cpu()
    if profile is None:
        profile = rate is None and count is None
    spy = _profile(cluster, duration) if profile else None
    cluster.call("load", {"start": start, "duration": duration, "rate": rate, "count": count},
                 timeout=duration + 120)
    if spy is not None:
        spy.wait(timeout=60)
    elapsed = time.monotonic() - start
    cpu1, wcpu1 = cluster.cpu(), cluster.worker_cpu()
    parts = cluster.call("drain", {"quiet_s": QUIET_S, "max_s": DRAIN_MAX_S})
    got: dict[int, int] = {}
    lat, lat_recv = array("d"), array("d")
    acked: dict[str, list[int]] = {}
    failed: dict[str, int] = {}
    for p in parts:
        for k, v in p["got"].items():
            got[k] = got.get(k, 0) + v
        lat.frombytes(p["lat"])
        lat_recv.frombytes(p["lat_recv"])
        for room, keys in p["acked"].items():
            acked.setdefault(room, []).extend(keys)
        for code, n in p["failed"].items():
            failed[code] = failed.get(code, 0) + n
    expected = sum(len(keys) * sizes[room] for room, keys in acked.items())
    delivered = sum(min(got.get(k, 0), sizes[room]) for room, keys in acked.items() for k in keys)
    acked_keys = {k for keys in acked.values() for k in keys}
    sent = sum(len(keys) for keys in acked.values())
    window = count is None
    return {
        "messages": sent,
        "deliveries": sum(got.values()),
        "deliveries_per_s": round(sum(p["in_window"] for p in parts) / duration) if window
        else round(sum(got.values()) / elapsed),
        "msgs_per_s": round(sent / elapsed, 1),
        **report.percentiles(lat),
        # Sockets that only listen: their events never wait behind their own message.send.
        "listeners_p99_ms": report.percentiles(lat_recv)["p99_ms"],
        "lost": expected - delivered,
        "dup": sum(p["dups"] for p in parts),
        "unacked_delivered": len(set(got) - acked_keys),
        "failed": failed,
        "rate_limited_retries": sum(p["rate_limited"] for p in parts),
        "server_cpu_pct": round((cpu1 - cpu0) / elapsed * 100),
        # Server CPU (every process, user + system) per delivery received in the load window:
        # steadier than deliveries/s on a shared machine.
        "server_us_per_delivery": (round((cpu1 - cpu0) * 1e6 / in_window, 1)
                                   if (in_window := sum(p["in_window"] for p in parts)) else None),
        "loadgen_cpu_pct": round((wcpu1 - wcpu0) / elapsed * 100),
        "loadgen_lag_max_ms": round(max(p["lag_max"] for p in parts) * 1000, 1),
    }


def _profile(cluster: Cluster, duration: float) -> subprocess.Popen | None:
    """py-spy on our own first server (by PID), sampling the middle of the phase; the raw
    collapsed stacks land next to the logs (bench.profile summarizes them)."""
    seconds = min(cluster.opts.profile_s, duration - 1)
    if seconds <= 0 or cluster.app != "curbside":
        return None
    out = cluster.opts.root / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    name = f"{cluster.topology}-{int(time.time())}.txt"
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(cluster.servers[0].pid),
         "-d", str(int(seconds)), "-r", "200", "-f", "raw", "--nonblocking", "-o", str(out / name)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fanout(cluster: Cluster, members: int, offered: list[int | None], duration: float) -> list[dict]:
    """One lounge with ``members`` sockets, ``SENDERS`` of them sending: closed loop (None)
    and fixed offered rates in deliveries/s."""
    room = FANOUT_LOUNGES.get(members, "lounge-general")
    specs = [_spec(cluster, k, room=room, send=k < SENDERS) for k in range(members)]
    opened = cluster.open(specs)
    if opened["failed"]:
        raise RuntimeError(f"fanout: {opened['failed']} sockets failed: {opened['errors']}")
    rows = []
    for target in offered:
        rate = None if target is None else target / members / SENDERS
        row = load(cluster, sizes={room: members}, duration=duration, rate=rate)
        rows.append({"members": members, "offered": "closed loop" if target is None else target,
                     **row})
    cluster.close()
    return rows


def many_rooms(cluster: Cluster, duration: float, rate: float = 1.0) -> dict:
    """The fixture case rooms (500 of 2–10 members), one sender each at ``rate`` msg/s."""
    rooms = cluster.fixtures.get("case_rooms") or _baseline_rooms(cluster.opts.case_rooms)
    specs, sizes, k = [], {}, 0
    for room in rooms:
        sizes[room["id"]] = len(room["members"])
        for j, user in enumerate(room["members"]):
            specs.append({**_spec(cluster, k, room=room["id"], send=j == 0), "user": user})
            k += 1
    opened = cluster.open(specs)
    if opened["failed"]:
        raise RuntimeError(f"rooms: {opened['failed']} sockets failed: {opened['errors']}")
    row = load(cluster, sizes=sizes, duration=duration, rate=rate, profile=True)
    cluster.close()
    return {"rooms": len(rooms), "sockets": len(specs), "open_s": round(opened["elapsed_s"], 2),
            **row}


def _baseline_rooms(n: int) -> list[dict]:
    """The tutorial has no stored rooms: the same sizes under made-up names."""
    from bench.fixtures import case_room_sizes

    return [{"id": f"case_{i}", "members": list(range(size))}
            for i, size in enumerate(case_room_sizes(n))]


def alerts() -> dict:
    return {"skipped": "run `python -m bench.alerts` (its own module: 500 specialists, each "
                       "a user of its own, plus chat load)"}


def reconnect(cluster: Cluster, clients: int, missed: int) -> dict:
    """``clients`` sockets in a lounge go away, ``missed`` messages are posted, then all of
    them come back at once and re-join with ``since``: time to recover, and whether each got
    exactly the missed messages, in order."""
    room = RECONNECT_LOUNGE
    specs = [_spec(cluster, k, room=room) for k in range(clients)]
    opened = cluster.open(specs)
    if opened["failed"]:
        raise RuntimeError(f"reconnect: {opened['failed']} sockets failed: {opened['errors']}")
    last = dict(pair for part in cluster.call("last_seqs", {}) for pair in part)
    cluster.close()
    poster = [_spec(cluster, clients, room=room, send=True)]
    cluster.call("open", [{"specs": poster if i == 0 else []} for i in range(len(cluster.conns))])
    posted = load(cluster, sizes={room: 1}, duration=120, rate=None, count=missed)
    cluster.close()
    back = [_spec(cluster, k, room=room, since=last[k], expect_from=last[k] + 1,
                  expect_n=missed) for k in range(clients)]
    if cluster.app == "baseline":
        back = [_spec(cluster, k, room=room) for k in range(clients)]
    reopened = cluster.open(back)
    parts = cluster.call("drain", {"quiet_s": 0.5, "max_s": 5})
    cluster.close()
    recovered = sum(p["resume_got"] for p in parts)
    return {"clients": clients, "missed_each": missed, "posted": posted["messages"],
            "reconnected": reopened["opened"], "failed": reopened["failed"],
            "all_back_s": round(reopened["elapsed_s"], 2),
            **{f"client_{k}": v for k, v in report.percentiles(reopened["per_socket_s"]).items()},
            "recovered": recovered, "lost": clients * missed - recovered,
            "dup": sum(p["dups"] for p in parts),
            "out_of_order": sum(p["resume_bad_order"] for p in parts),
            "errors": reopened["errors"]}
