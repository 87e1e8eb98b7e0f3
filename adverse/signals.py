"""Disproportionality statistics of one drug–reaction pair: pure functions of a 2×2 table.

The table counts reports (not drug–reaction rows), laid out as in Evans, Waller & Davis
(2001)::

                      reaction R    other reactions
    drug D                a               b
    other drugs           c               d

- **PRR** (Evans et al. 2001): ``(a / (a + b)) / (c / (c + d))``, with Pearson's χ² on one
  degree of freedom *with Yates' continuity correction* ("corrected using Yates' method to be
  conservative", in the textbook account of the method cited in docs/adverse.md); ``chi2``
  also gives the uncorrected one, which some published examples print. A signal of
  disproportionate reporting by the **Evans criteria**: PRR ≥ 2, χ² ≥ 4 and a ≥ 3.
- **ROR** (van Puijenbroek et al. 2002): ``(a / c) / (b / d) = ad / bc`` with the 95 %
  confidence interval ``exp(ln ROR ± 1.96 √(1/a + 1/b + 1/c + 1/d))`` (Woolf's logit method).
- **IC**, the BCPNN information component (Bate et al. 1998) in the shrinkage form of
  Norén, Hopstadius & Bate (2013): ``IC = log2((a + ½) / (E + ½))`` with the expected count
  ``E = (a + b)(a + c) / N``, and its lower 95 % credibility bound IC025, the exact 2.5 %
  quantile of the posterior — log2 of a Gamma(a + ½, rate E + ½) variable — from scipy (what
  the published worked examples print; a closed-form approximation sat 0.05 below them). The
  +½ shrinks small counts towards IC = 0, so two reports never shout.

A table with an empty cell has no finite PRR or ROR; both are then computed with the
Haldane–Anscombe correction (½ added to every cell) and say so (``corrected``). χ² and the
IC need no correction. docs/adverse.md lists the published worked examples each formula is
checked against (tests/adverse/test_published_examples.py) and states the thresholds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy.stats import gamma

# Evans et al. (2001): the screen used at the UK Medicines Control Agency.
EVANS_PRR = 2.0
EVANS_CHI2 = 4.0
EVANS_N = 3
# The standard normal quantile for a two-sided 95 % interval.
Z_975 = 1.959963984540054
# Shrinkage of the IC (Norén et al. 2013): a pseudo-count added to observed and expected.
IC_SHRINKAGE = 0.5


@dataclass(frozen=True)
class Table:
    a: int  # reports with the drug and the reaction
    b: int  # reports with the drug, without the reaction
    c: int  # reports with the reaction, without the drug
    d: int  # reports with neither

    def __post_init__(self) -> None:
        if min(self.a, self.b, self.c, self.d) < 0:
            raise ValueError("a 2×2 table holds counts, none negative")

    @property
    def n(self) -> int:
        return self.a + self.b + self.c + self.d

    @classmethod
    def from_margins(cls, *, a: int, drug: int, reaction: int, total: int) -> Table:
        """The table from the pair count and the three totals a database keeps."""
        return cls(a, drug - a, reaction - a, total - drug - reaction + a)


@dataclass(frozen=True)
class Stats:
    a: int
    b: int
    c: int
    d: int
    prr: float
    chi2: float
    ror: float
    ror_lower: float
    ror_upper: float
    ic: float
    ic025: float
    corrected: bool  # PRR and ROR computed with ½ added to every cell (an empty cell)
    evans: bool  # PRR ≥ 2, χ² ≥ 4, a ≥ 3

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _cells(t: Table) -> tuple[float, float, float, float, bool]:
    if min(t.a, t.b, t.c, t.d) == 0:
        return t.a + 0.5, t.b + 0.5, t.c + 0.5, t.d + 0.5, True
    return float(t.a), float(t.b), float(t.c), float(t.d), False


def prr(t: Table) -> float:
    """The proportional reporting ratio (Haldane–Anscombe-corrected if a cell is empty)."""
    a, b, c, d, _ = _cells(t)
    return (a / (a + b)) / (c / (c + d))


def chi2(t: Table, *, yates: bool = True) -> float:
    """Pearson's χ² of the table on one degree of freedom, with Yates' continuity correction
    unless ``yates=False`` (0 when a margin is 0). The screen uses the corrected one; the
    uncorrected one is what some published examples print (docs/adverse.md)."""
    a, b, c, d, n = t.a, t.b, t.c, t.d, t.n
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        return 0.0
    diff = abs(a * d - b * c)
    if yates:
        diff = max(diff - n / 2, 0.0)
    return n * diff * diff / margins


def chi2_yates(t: Table) -> float:
    """Pearson's χ² of the table with Yates' continuity correction: the Evans screen's."""
    return chi2(t, yates=True)


def ror(t: Table) -> tuple[float, float, float]:
    """The reporting odds ratio and its 95 % confidence interval (Woolf)."""
    a, b, c, d, _ = _cells(t)
    value = (a * d) / (b * c)
    half = Z_975 * math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return value, math.exp(math.log(value) - half), math.exp(math.log(value) + half)


def shrunk_ic(observed: float, expected: float) -> tuple[float, float]:
    """IC = log2((O + ½) / (E + ½)) and its lower 95 % credibility bound IC025: the 2.5 %
    quantile of log2 X, X ~ Gamma(shape O + ½, rate E + ½) (Norén, Hopstadius & Bate 2013;
    the Poisson–gamma conjugacy the pvda package prints its bounds from)."""
    shrunk = observed + IC_SHRINKAGE
    rate = expected + IC_SHRINKAGE
    return math.log2(shrunk / rate), math.log2(gamma.ppf(0.025, shrunk, scale=1 / rate))


def information_component(t: Table) -> tuple[float, float]:
    """IC and IC025 of the table: observed a, expected E = (a + b)(a + c) / N."""
    if t.n == 0:
        return 0.0, 0.0
    return shrunk_ic(t.a, (t.a + t.b) * (t.a + t.c) / t.n)


def evans(*, prr_value: float, chi2: float, a: int) -> bool:
    """The Evans criteria: PRR ≥ 2, χ² ≥ 4 and at least 3 reports."""
    return prr_value >= EVANS_PRR and chi2 >= EVANS_CHI2 and a >= EVANS_N


def stats(t: Table) -> Stats:
    """Every statistic of the table, and whether it meets the Evans criteria."""
    p, x2 = prr(t), chi2_yates(t)
    r, lo, hi = ror(t)
    ic, ic025 = information_component(t)
    return Stats(a=t.a, b=t.b, c=t.c, d=t.d, prr=p, chi2=x2, ror=r, ror_lower=lo, ror_upper=hi,
                 ic=ic, ic025=ic025, corrected=_cells(t)[4],
                 evans=evans(prr_value=p, chi2=x2, a=t.a))
