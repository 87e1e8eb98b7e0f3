"""PNG figures of a run and of the policy comparison (matplotlib, headless)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

from consult.triage import RoutingPolicy  # noqa: E402
from sim.engine import HOUR, START, Config, Sim  # noqa: E402
from sim.figures import by_specialty  # noqa: E402


def _waits(sim: Sim) -> list[float]:
    return sorted(c.accepted_at - c.posted_at for c in sim.cases.values()
                  if c.eligible_at_post and c.accepted_at is not None)


def _cdf(ax, sim: Sim, label: str) -> None:
    w = _waits(sim)
    if w:
        ax.plot(w, [(i + 1) / len(w) for i in range(len(w))], label=label)


def write(base: Config, directory: str, out) -> None:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    runs = {}
    for label, policy in (("k=1", RoutingPolicy(k=1)), ("k=2", RoutingPolicy(k=2)),
                          ("k=3", RoutingPolicy()), ("k=5", RoutingPolicy(k=5))):
        runs[label] = Sim(dataclasses.replace(base, policy=policy))
        runs[label].run()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, sim in runs.items():
        _cdf(ax, sim, label)
    ax.set_xscale("log")
    ax.axvline(30, color="grey", ls=":")
    ax.axvline(180, color="grey", ls=":")
    ax.set_xlabel("seconds from posting to acceptance (log)")
    ax.set_ylabel("share of urgent cases (eligible online)")
    ax.set_title("Time to accept by offers open at once (offers live 60 s)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(d / "accept-cdf-k.png", dpi=110)
    plt.close(fig)

    sim = runs["k=3"]
    specs = by_specialty(sim, top=14)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = list(specs)
    ax.barh(names, [specs[n]["accept_p95_s"] or 0 for n in names], color="#c9d6ea", label="p95")
    ax.barh(names, [specs[n]["accept_p50_s"] or 0 for n in names], color="#3b6ea8", label="p50")
    ax.invert_yaxis()
    ax.set_xlabel("seconds to accept")
    ax.set_title("Time to accept by specialty (defaults: k=3, 60 s)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(d / "accept-by-specialty.png", dpi=110)
    plt.close(fig)

    fair = runs["k=3"]
    unfair = Sim(dataclasses.replace(base, policy=RoutingPolicy(fairness=False)))
    unfair.run()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, s in (("fairness on", fair), ("fairness off", unfair)):
        loads = sorted((doc.accepted for doc in s.net.docs if doc.offers), reverse=True)
        ax.plot(range(len(loads)), loads, label=label)
    ax.set_xlabel("specialists offered at least one case, by load")
    ax.set_ylabel("consults accepted")
    ax.set_title("Load per specialist")
    ax.legend()
    fig.tight_layout()
    fig.savefig(d / "load.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    by_hour: dict[int, list[float]] = {}
    for c in sim.cases.values():
        if c.accepted_at is not None:
            by_hour.setdefault(int((c.posted_at - START) // HOUR) % 24, []).append(
                c.accepted_at - c.posted_at)
    hours = sorted(by_hour)
    ax.plot(hours, [sorted(by_hour[h])[len(by_hour[h]) // 2] for h in hours], label="p50")
    ax.plot(hours, [sorted(by_hour[h])[int(0.95 * (len(by_hour[h]) - 1))] for h in hours],
            label="p95")
    ax.set_xlabel("hour posted (UTC)")
    ax.set_ylabel("seconds to accept")
    ax.set_title("Time to accept by hour of day (all cases, defaults)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(d / "accept-by-hour.png", dpi=110)
    plt.close(fig)
    print(f"wrote {', '.join(sorted(p.name for p in d.glob('*.png')))} to {d}", file=out)
