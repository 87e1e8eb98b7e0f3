"""Run the benchmarks: every scenario on every topology, Curbside and the tutorial baseline
side by side. Prints one table per scenario and writes ``<out>/<scenario>.json``.

    python -m bench                                  # everything, real sizes (~30–40 min)
    python -m bench --scenarios fanout --topologies redis-1 --duration 5
    python -m bench --quick                          # small sizes, for a first look
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from bench import report, scenarios
from bench.cluster import TOPOLOGIES, Cluster, Options
from bench.servers import ROOT

SCENARIOS = ["idle", "fanout", "rooms", "alerts", "reconnect"]
# Which columns each scenario's table shows, and which the ratio is taken on.
COLUMNS = {
    "idle": ["topology", "app", "sockets", "failed", "open_s", "kb_per_socket", "rss_after_mb",
             "cpu_rest_pct"],
    "fanout": ["topology", "app", "members", "offered", "deliveries_per_s", "p50_ms", "p95_ms",
               "p99_ms", "max_ms", "listeners_p99_ms", "lost", "dup", "server_cpu_pct",
               "server_us_per_delivery", "loadgen_cpu_pct", "load1"],
    "rooms": ["topology", "app", "rooms", "sockets", "deliveries_per_s", "p50_ms", "p95_ms",
              "p99_ms", "max_ms", "lost", "dup", "server_cpu_pct", "server_us_per_delivery",
              "loadgen_cpu_pct", "load1"],
    "reconnect": ["topology", "app", "clients", "missed_each", "failed", "all_back_s",
                  "client_p50_ms", "client_p99_ms", "recovered", "lost", "dup", "out_of_order"],
}
# metric → lower is better? (for the Curbside/baseline ratio rows)
RATIOS = {
    "idle": {"open_s": True, "kb_per_socket": True},
    "fanout": {"deliveries_per_s": False, "p99_ms": True},
    "rooms": {"deliveries_per_s": False, "p99_ms": True},
    "reconnect": {"all_back_s": True},
}
# What identifies "the same measurement" across the two apps.
KEYS = {"idle": ["sockets"], "fanout": ["members", "offered"], "rooms": [], "reconnect": []}


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in
                Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), "?")
    mem = next(ln.split(":", 1)[1].strip() for ln in
               Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))

    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "absent"

    def server(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return "?"

    return {"nproc": len(__import__("os").sched_getaffinity(0)), "memory": mem, "cpu": cpu,
            "python": platform.python_version(), "kernel": platform.release(),
            **{pkg: version(pkg) for pkg in ("django", "channels", "daphne", "channels-redis",
                                             "redis", "twisted", "autobahn", "websockets",
                                             "uvicorn", "wsproto", "uvloop", "httptools",
                                             "granian")},
            "redis-server": server(["redis-server", "--version"]),
            "postgres": server(["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc",
                                "show server_version"])}


def ratio_rows(name: str, rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        if not str(row.get("app", "")).startswith("curbside"):
            continue
        match = next((b for b in rows if b.get("app") == "baseline"
                      and b["topology"] == row["topology"]
                      and all(b.get(k) == row.get(k) for k in KEYS[name])), None)
        if match is None:
            continue
        r = {"topology": row["topology"], "app": f"ratio {row['app']}/baseline (×, >1 = better)",
             **{k: row.get(k) for k in KEYS[name]}}
        for metric, lower in RATIOS[name].items():
            r[metric] = report.ratio(row.get(metric), match.get(metric), lower_is_better=lower)
        out.append(r)
    return out


def run_one(name: str, cluster: Cluster, args) -> list[dict]:
    if name == "idle":
        return [scenarios.idle(cluster, n) for n in args.idle_sizes]
    if name == "fanout":
        rows = []
        for members in args.members:
            # Per sender ≤ 25 msg/s: the server allows one socket 30 frames/s (gateway.consumer).
            offered = ([None] if args.closed_loop else []) + [
                d for d in args.offered if d / members / scenarios.SENDERS <= 25]
            rows += scenarios.fanout(cluster, members, offered, args.duration)
        return rows
    if name == "rooms":
        return [scenarios.many_rooms(cluster, args.duration)]
    if name == "reconnect":
        return [scenarios.reconnect(cluster, args.clients, args.missed)]
    raise ValueError(name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)

    def ints(s: str) -> list[int]:
        return [int(x) for x in s.split(",") if x]

    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--topologies", default=",".join(TOPOLOGIES))
    p.add_argument("--apps", default="curbside,baseline",
                   help="curbside[@server] (server: daphne, uvicorn, uvicorn-wsproto, granian) "
                        "and/or baseline, comma-separated; cells alternate in this order")
    p.add_argument("--pin-server", default="", metavar="CPUS",
                   help="run every server process under `taskset -c CPUS` (e.g. 0)")
    p.add_argument("--pin-loadgen", default="", metavar="CPUS",
                   help="pin the load-generator processes to CPUS (e.g. 1)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load per phase")
    p.add_argument("--workers", type=int, default=2, help="load-generator processes")
    p.add_argument("--idle-sizes", type=ints, default=[1000, 5000, 10000])
    p.add_argument("--members", type=ints, default=[100, 1000])
    p.add_argument("--offered", type=ints, default=[2000, 10000, 20000],
                   help="fixed offered rates, deliveries/s (closed loop always runs too)")
    p.add_argument("--closed-loop", action=argparse.BooleanOptionalAction, default=True,
                   help="fan-out: also run the closed-loop phase (senders wait for each ack)")
    p.add_argument("--case-rooms", type=int, default=500)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--missed", type=int, default=100)
    p.add_argument("--profile", type=float, default=0.0,
                   help="py-spy the first Curbside server for N s of each closed-loop phase")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per cell: the table shows the median (failure counts: the worst)")
    p.add_argument("--quick", action="store_true", help="small sizes: a first look in ~2 min")
    p.add_argument("--root", type=Path, default=ROOT / "var" / "bench",
                   help="bench state: SQLite, keyring, fixtures, logs")
    p.add_argument("--database-url", default=Options.database_url)
    p.add_argument("--redis-curbside", default=Options.redis_curbside,
                   help="Redis db for Curbside's channel layer and presence (flushed per cell)")
    p.add_argument("--redis-baseline", default=Options.redis_baseline,
                   help="Redis db for the tutorial's channel layer (flushed per cell)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    if args.quick:
        args.idle_sizes, args.members, args.offered = [200], [20], [200]
        args.case_rooms, args.clients, args.missed = 20, 50, 20
        args.duration = min(args.duration, 3.0)
    opts = Options(root=args.root.resolve(), database_url=args.database_url,
                   redis_curbside=args.redis_curbside, redis_baseline=args.redis_baseline,
                   workers=args.workers,
                   duration=args.duration, users=args.users, case_rooms=args.case_rooms,
                   profile_s=args.profile, server_cpus=args.pin_server,
                   loadgen_cpus=args.pin_loadgen)
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    info["pinned"] = {"servers": args.pin_server or None, "loadgen": args.pin_loadgen or None}
    print(json.dumps(info), flush=True)
    apps = args.apps.split(",")
    failures = 0
    for name in args.scenarios.split(","):
        rows: list[dict] = []
        started = time.time()
        if name == "alerts":
            rows.append(scenarios.alerts())
            print(f"\n## alerts: SKIPPED — {rows[0]['skipped']}", flush=True)
        else:
            for topology in args.topologies.split(","):
                runs: dict[str, list[list[dict]]] = {app: [] for app in apps}
                # Runs of the two apps alternate, so a slow stretch of the machine hits both.
                for rep in range(args.repeat):
                    for app in apps:
                        print(f"... {name} / {topology} / {app} (run {rep + 1}/{args.repeat})",
                              file=sys.stderr, flush=True)
                        try:
                            # The machine's load as the cell starts (1-minute average).
                            load1 = float(Path("/proc/loadavg").read_text().split()[0])
                            with Cluster(opts, app, topology) as cluster:
                                runs[app].append([{**row, "load1": load1}
                                                  for row in run_one(name, cluster, args)])
                        except Exception as exc:  # keep going: one broken cell must not hide the rest
                            failures += 1
                            rows.append({"topology": topology, "app": app,
                                         "error": f"{type(exc).__name__}: {exc}"[:500]})
                            print(f"!!! {name}/{topology}/{app}: {exc}", file=sys.stderr,
                                  flush=True)
                for app in apps:
                    if runs[app]:
                        rows += [{"topology": topology, "app": app, **row} for row in
                                 report.combine_runs(runs[app], tuple(RATIOS.get(name, {})))]
            rows += ratio_rows(name, rows)
            columns = COLUMNS[name] + (["runs"] if args.repeat > 1 else [])
            print(f"\n## {name}\n" + report.table([r for r in rows if "error" not in r],
                                                  columns), flush=True)
        (args.out / f"{name}.json").write_text(json.dumps(
            {"scenario": name, "started": started, "machine": info, "argv": sys.argv,
             "duration_s": args.duration, "rows": rows}, indent=1, default=str))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
