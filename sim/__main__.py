"""``python -m sim``: simulate the consult network and print what routing does.

    python -m sim                       # a month, the production defaults; figures + targets
    python -m sim --days 7 --seed 3     # shorter, another seed
    python -m sim --compare --days 14   # the policy table of docs/routing.md
    python -m sim --scenarios           # the failure cases of docs/routing.md
    python -m sim --plots docs/routing  # PNG figures (matplotlib)

Deterministic: the same arguments print the same figures (the wall time aside).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from consult.triage import DEFAULT_POLICY, RoutingPolicy
from sim import plots
from sim.engine import MASS_CASUALTY, Config, Sim
from sim.figures import by_specialty, case_figures, run_figures, targets


def _s(v) -> str:
    return "–" if v is None else f"{v:.0f}"


def _pc(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def run(cfg: Config) -> Sim:
    sim = Sim(cfg)
    sim.run()
    return sim


HEADER = ("| run | cases | eligible | accept p50 / p95 / p99 (s) | ≤1 min | ≤5 min | unoffered | "
          "never accepted | tier 1/2/3/lounge | offers per accept | load max / median | "
          "Gini | > 2× median |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def row(label: str, sim: Sim) -> str:
    f = run_figures(sim)
    e, a, load = f["eligible"], f["all"], f["load"]
    t = e["tier"]
    return (f"| {label} | {a['cases']} | {e['cases']} | {_s(e['accept_p50_s'])} / "
            f"{_s(e['accept_p95_s'])} / {_s(e['accept_p99_s'])} | {_pc(e['within_1min'])} | "
            f"{_pc(e['within_5min'])} | {e['never_offered']} | {a['never_accepted']} | "
            f"{t[1]}/{t[2]}/{t[3]}/{t[4]} | {e['offers_per_accepted']:.2f} | "
            f"{load['load_max']} / {load['load_median']} | {load['gini']:.2f} | "
            f"{_pc(load['over_2x_median'])} |")


# Measured when the defaults were k=3, 90 s, cap 2, fairness on, three tiers: the first rows
# vary one knob from those (docs/routing.md); then "k=3, offer 60 s" (the defaults before
# widening), the widening variants, and today's defaults (DEFAULT_POLICY).
OLD = {"k": 3, "offer_ttl_s": 90.0, "max_open_consults": 2}


def _p(**kw) -> RoutingPolicy:
    return RoutingPolicy(**{**OLD, **kw})


POLICIES: list[tuple[str, RoutingPolicy]] = [
    ("k=3, 90 s, cap 2, fair, 3 tiers (old defaults)", _p()),
    ("k=1", _p(k=1)),
    ("k=2", _p(k=2)),
    ("k=5", _p(k=5)),
    ("offer 30 s", _p(offer_ttl_s=30)),
    ("offer 180 s", _p(offer_ttl_s=180)),
    ("tiers: on call only", _p(last_tier=1)),
    ("tiers: 1-2 (no related)", _p(last_tier=2)),
    ("cap 1", _p(max_open_consults=1)),
    ("cap 3", _p(max_open_consults=3)),
    ("fairness off", _p(fairness=False)),
    ("k=2, offer 45 s", _p(k=2, offer_ttl_s=45)),
    ("k=2, offer 60 s", _p(k=2, offer_ttl_s=60)),
    ("k=3, offer 45 s", _p(k=3, offer_ttl_s=45)),
    ("k=3, offer 60 s", _p(k=3, offer_ttl_s=60)),
    # Progressive widening (docs/routing.md): each row spelled out, not from OLD.
    ("widen: 1, 3 at 15 s", RoutingPolicy(k=1, widen=((15, 3),))),
    ("widen: 1, 2 at 10 s, 3 at 20 s", RoutingPolicy(k=1, widen=((10, 2), (20, 3)))),
    ("widen: 2, 3 at 20 s", RoutingPolicy(k=2, widen=((20, 3),))),
    ("widen: 2, 3 at 30 s", RoutingPolicy(k=2, widen=((30, 3),))),
    ("widen: 1, 3 at 15 s, 5 at 75 s", RoutingPolicy(k=1, widen=((15, 3), (75, 5)))),
    ("widen: 1, 3 at 15 s; tiers open at 30 s",
     RoutingPolicy(k=1, widen=((15, 3),), escalate_after_s=30)),
    ("widen: 1, 3 at 15 s, 5 at 75 s; tiers open at 30 s",
     RoutingPolicy(k=1, widen=((15, 3), (75, 5)), escalate_after_s=30)),
    ("widen: 2, 3 at 20 s, 5 at 80 s; tiers open at 40 s",
     RoutingPolicy(k=2, widen=((20, 3), (80, 5)), escalate_after_s=40)),
    ("widen: 2, 3 at 20 s; offers 90 s", RoutingPolicy(k=2, widen=((20, 3),), offer_ttl_s=90)),
    ("widen: 2, 3 at 20 s, 4 at 100 s; tiers open at 45 s; offers 75 s",
     RoutingPolicy(k=2, widen=((20, 3), (100, 4)), escalate_after_s=45, offer_ttl_s=75)),
    ("widen: 2, 3 at 20 s, 4 at 100 s; tiers open at 60 s; offers 75 s",
     RoutingPolicy(k=2, widen=((20, 3), (100, 4)), escalate_after_s=60, offer_ttl_s=75)),
    ("new defaults", DEFAULT_POLICY),
]


def compare(base: Config, out, only: list[str] | None = None) -> None:
    print(HEADER, file=out)
    for label, policy in POLICIES:
        if only and label not in only:
            continue
        sim = run(dataclasses.replace(base, policy=policy))
        print(row(label, sim), file=out, flush=True)


def scenarios(base: Config, out) -> None:
    print(HEADER, file=out)
    sim = run(dataclasses.replace(base, bursts=()))
    print(row("baseline, no burst", sim), file=out)
    # One on-call doctor for a specialty, and its cases.
    one = run(dataclasses.replace(base, single_on_call="medical-toxicology", bursts=(),
                                  demand=(("medical-toxicology", 1.0),)))
    print(row("medical toxicology: one on-call doctor", one), file=out)
    # Night in Spain: cases posted 01:00-05:00 Madrid time, in Spanish.
    night = run(dataclasses.replace(base, bursts=(), post_countries=("ES",),
                                    post_local_hours=(1, 2, 3, 4)))
    print(row("night in Spain (01-05 h), posted in Spanish", night), file=out)
    # The mass-casualty burst, its cases alone.
    mci = run(dataclasses.replace(base, bursts=(MASS_CASUALTY,)))
    burst = [c for c in mci.cases.values() if c.label == MASS_CASUALTY.label]
    f = case_figures([c for c in burst if c.eligible_at_post])
    print(f"\nmass casualty: {len(burst)} urgent cases in {MASS_CASUALTY.minutes:.0f} min "
          f"({MASS_CASUALTY.country}, {', '.join(MASS_CASUALTY.specialties)}): accepted p50 "
          f"{_s(f['accept_p50_s'])} s, p95 {_s(f['accept_p95_s'])} s, p99 "
          f"{_s(f['accept_p99_s'])} s; never offered {f['never_offered']}, never accepted "
          f"{case_figures(burst)['never_accepted']}; tiers {f['tier']}", file=out)
    accepted = [c for c in night.cases.values() if c.first_by]
    by_country: dict[str, int] = {}
    for c in accepted:
        doc = night.net.by_id[c.first_by]
        by_country[doc.country] = by_country.get(doc.country, 0) + 1
    speaks = sum(1 for c in accepted if c.language in night.net.by_id[c.first_by].languages)
    print(f"night in Spain: {len(accepted)} accepted, by country of the specialist "
          f"{dict(sorted(by_country.items(), key=lambda kv: -kv[1]))}; the specialist speaks "
          f"the case's language in {_pc(speaks / len(accepted) if accepted else None)}",
          file=out)


def report(sim: Sim, out) -> None:
    f = run_figures(sim)
    print(f"simulated {sim.cfg.days:g} days, {sim.cfg.physicians} physicians, "
          f"{len(sim.cases)} urgent cases, {sim.counts['events']} events in "
          f"{sim.wall_s:.1f} s wall", file=out)
    print(HEADER, file=out)
    print(row("this run", sim), file=out)
    print(f"\ncounts: {f['counts']}", file=out)
    print("\ntargets (cases posted while an eligible specialist was online):", file=out)
    for name, (value, ok) in targets(f).items():
        print(f"  {'MET ' if ok else 'MISS'}  {name}: {value}", file=out)
    print("\n| specialty | posted | eligible at post | accept p50 / p95 / p99 (s) | ≤1 min | "
          "≤5 min | offers per accept | tiers 1/2/3/lounge | specialists | load max / median | "
          "Gini |\n|---|---|---|---|---|---|---|---|---|---|---|", file=out)
    for spec, s in by_specialty(sim).items():
        t = s["tier"]
        print(f"| {spec} | {s['posted']} | {_pc(s['eligible_share'])} | "
              f"{_s(s['accept_p50_s'])} / {_s(s['accept_p95_s'])} / {_s(s['accept_p99_s'])} | "
              f"{_pc(s['within_1min'])} | {_pc(s['within_5min'])} | "
              f"{(s['offers_per_accepted'] or 0):.2f} | {t[1]}/{t[2]}/{t[3]}/{t[4]} | "
              f"{s['specialists']} | {s['load_max']} / {s['load_median']} | "
              f"{(s['gini'] or 0):.2f} |", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--physicians", type=int, default=5000)
    ap.add_argument("--urgent-share", type=float, default=0.10)
    ap.add_argument("--compare", action="store_true", help="the policy table")
    ap.add_argument("--only", action="append", metavar="LABEL", help="with --compare: these rows")
    ap.add_argument("--scenarios", action="store_true", help="the failure cases")
    ap.add_argument("--plots", metavar="DIR", help="write PNG figures to DIR")
    a = ap.parse_args(argv)
    base = Config(seed=a.seed, days=a.days, physicians=a.physicians, urgent_share=a.urgent_share)
    out = sys.stdout
    if a.compare:
        compare(base, out, a.only)
    elif a.scenarios:
        scenarios(base, out)
    elif a.plots:
        plots.write(base, a.plots, out)
    else:
        started = time.perf_counter()
        sim = run(base)
        report(sim, out)
        print(f"\nwall time, building the network included: {time.perf_counter() - started:.1f} s",
              file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
