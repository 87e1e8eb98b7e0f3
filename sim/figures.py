"""Figures of one run: what a poster and a specialist would notice, per run and per specialty."""

from __future__ import annotations

import statistics
from collections import Counter

from sim.engine import CaseRec, Sim


def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank), None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]


def gini(values: list[float]) -> float:
    """Gini coefficient of non-negative values (0: all equal)."""
    if not values or sum(values) == 0:
        return 0.0
    s = sorted(values)
    n = len(s)
    return sum((2 * (i + 1) - n - 1) * v for i, v in enumerate(s)) / (n * sum(s))


def lottery_over_2x(specialists: int, consults: int) -> float | None:
    """The share above twice the median (at least 1) if ``consults`` fell on ``specialists``
    by an even lottery (each consult to anyone, equally likely): the noise floor of the load
    target, since small counts spread unevenly even when nobody is favoured."""
    if specialists <= 0:
        return None
    if specialists == 1:
        return 0.0
    p, n = 1 / specialists, consults
    pmf = [(1 - p) ** n]
    for x in range(1, n + 1):
        pmf.append(pmf[-1] * (n - x + 1) / x * p / (1 - p))
        if pmf[-1] < 1e-12 and x > n * p:
            break
    cum, median = 0.0, 0
    for x, q in enumerate(pmf):
        cum += q
        if cum >= 0.5:
            median = x
            break
    limit = 2 * max(median, 1)
    return max(0.0, 1 - sum(pmf[:limit + 1]))


def case_figures(cases: list[CaseRec]) -> dict:
    n = len(cases)
    waits = [c.accepted_at - c.posted_at for c in cases if c.accepted_at is not None]
    first = [c.first_offer_at - c.posted_at for c in cases if c.first_offer_at is not None]
    accepted = [c for c in cases if c.accepted_at is not None]
    tiers = Counter(c.tier for c in cases)
    return {
        "cases": n,
        "first_offer_p50_s": pct(first, 50),
        "first_offer_p95_s": pct(first, 95),
        "accept_p50_s": pct(waits, 50),
        "accept_p95_s": pct(waits, 95),
        "accept_p99_s": pct(waits, 99),
        "within_1min": sum(1 for w in waits if w <= 60) / n if n else None,
        "within_5min": sum(1 for w in waits if w <= 300) / n if n else None,
        "never_offered": sum(1 for c in cases if c.first_offer_at is None),
        "never_accepted": n - len(accepted),
        "tier": {t: tiers.get(t, 0) for t in (1, 2, 3, 4)},
        "offers_per_accepted": (sum(c.offers for c in cases) / len(accepted)) if accepted else None,
    }


def load_figures(sim: Sim, specialties: set[str] | None = None) -> dict:
    """Accepted consults per specialist, among those who were offered at least one case
    (in ``specialties`` when given)."""
    docs = [d for d in sim.net.docs if d.offers > 0 and (
        specialties is None or set(d.specialties) & specialties)]
    loads = [d.accepted for d in docs]
    if not loads:
        return {"specialists": 0, "load_median": None, "load_max": None, "gini": None,
                "over_2x_median": None, "over_2x_lottery": None}
    med = statistics.median(loads)
    return {"specialists": len(loads), "load_median": med, "load_max": max(loads),
            "gini": gini(loads),
            "over_2x_median": sum(1 for v in loads if v > 2 * max(med, 1)) / len(loads),
            "over_2x_lottery": lottery_over_2x(len(loads), sum(loads))}


def run_figures(sim: Sim) -> dict:
    cases = list(sim.cases.values())
    eligible = [c for c in cases if c.eligible_at_post]
    return {"all": case_figures(cases), "eligible": case_figures(eligible),
            "load": load_figures(sim), "counts": dict(sim.counts),
            "violations": len(sim.violations)}


def by_specialty(sim: Sim, top: int = 12) -> dict[str, dict]:
    counts = Counter(c.specialty for c in sim.cases.values())
    out = {}
    for spec, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
        cases = [c for c in sim.cases.values() if c.specialty == spec]
        out[spec] = {**case_figures([c for c in cases if c.eligible_at_post]),
                     "posted": len(cases),
                     "eligible_share": sum(c.eligible_at_post for c in cases) / len(cases),
                     **load_figures(sim, sim.reach(spec))}
    return out


def targets(fig: dict) -> dict[str, tuple[str, bool]]:
    """The issue's targets, on the cases posted while an eligible specialist was online."""
    e, load = fig["eligible"], fig["load"]

    def fmt(v):
        return "n/a" if v is None else f"{v:.0f} s"
    return {
        "urgent accepted p50 <= 30 s": (fmt(e["accept_p50_s"]),
                                        e["accept_p50_s"] is not None and e["accept_p50_s"] <= 30),
        "urgent accepted p99 <= 180 s": (fmt(e["accept_p99_s"]),
                                         e["accept_p99_s"] is not None and e["accept_p99_s"] <= 180),
        "0 urgent unoffered": (str(e["never_offered"]), e["never_offered"] == 0),
        "no specialist > 2x median load": (
            f"{load['over_2x_median']:.1%} above, max {load['load_max']}, median "
            f"{load['load_median']} (an even lottery of the same consults: "
            f"{load['over_2x_lottery']:.1%} above)", load["over_2x_median"] == 0),
        "< 3 offers per accepted case": (f"{e['offers_per_accepted']:.2f}",
                                         (e["offers_per_accepted"] or 99) < 3),
    }
