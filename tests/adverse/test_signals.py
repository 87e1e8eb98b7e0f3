"""The disproportionality statistics (adverse/signals.py) against independent computations
and the thresholds of the Evans criteria. docs/adverse.md cites the sources of each formula
and lists the figures checked here."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sp
from scipy.stats.contingency import odds_ratio

from adverse.signals import Table, chi2_yates, evans, information_component, prr, ror, stats

# (a, b, c, d): small, medium, large databases, and a pair on the edge of each criterion.
TABLES = [(3, 7, 4, 86), (10, 90, 20, 880), (25, 475, 100, 19400), (4, 96, 50, 4850),
          (1, 1, 1, 1), (7, 3, 60, 930)]


@pytest.mark.parametrize("cells", TABLES)
def test_chi2_is_pearsons_with_yates_correction(cells):
    a, b, c, d = cells
    expected = sp.chi2_contingency([[a, b], [c, d]], correction=True)[0]
    assert chi2_yates(Table(*cells)) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("cells", TABLES)
def test_ror_and_its_interval_are_woolfs(cells):
    a, b, c, d = cells
    value, lower, upper = ror(Table(*cells))
    reference = odds_ratio([[a, b], [c, d]], kind="sample")
    interval = reference.confidence_interval(0.95)
    assert value == pytest.approx(reference.statistic, rel=1e-12)
    assert lower == pytest.approx(interval.low, rel=1e-9)
    assert upper == pytest.approx(interval.high, rel=1e-9)


def test_prr_by_hand():
    # Evans et al. (2001)'s definition: the drug's proportion over everything else's.
    assert prr(Table(3, 7, 4, 86)) == pytest.approx((3 / 10) / (4 / 90))
    assert prr(Table(10, 90, 20, 880)) == pytest.approx(4.5)
    assert prr(Table(25, 475, 100, 19400)) == pytest.approx(9.75)


@pytest.mark.parametrize("cells", TABLES)
def test_ic025_is_the_exact_gamma_quantile(cells):
    """Norén et al. (2013): the IC's posterior is that of log2 of a Gamma(a + ½, E + ½)
    variable; IC025 is its 2.5 % quantile, here computed independently by bisection on
    scipy's gamma CDF (not the ppf the implementation calls)."""
    table = Table(*cells)
    ic, ic025 = information_component(table)
    expected = (table.a + table.b) * (table.a + table.c) / table.n
    assert ic == pytest.approx(math.log2((table.a + 0.5) / (expected + 0.5)))
    lo, hi = 1e-12, 1e6
    for _ in range(200):
        mid = (lo + hi) / 2
        if sp.gamma.cdf(mid, table.a + 0.5, scale=1 / (expected + 0.5)) < 0.025:
            lo = mid
        else:
            hi = mid
    assert ic025 == pytest.approx(math.log2(lo), abs=1e-9)
    assert ic025 < ic


def test_the_ic_shrinks_small_counts():
    # Same observed-to-expected ratio (4), one report against a hundred.
    small = Table(1, 9, 9, 381)  # E = 0.25
    large = Table(100, 900, 900, 38100)  # E = 25
    ic_small, low_small = information_component(small)
    ic_large, low_large = information_component(large)
    assert ic_small < ic_large < 2.0  # log2(4) = 2 is the unshrunk value
    assert low_small < 0 < low_large


def test_an_empty_cell_uses_the_haldane_anscombe_correction():
    t = Table(5, 0, 2, 100)
    s = stats(t)
    assert s.corrected
    assert s.prr == pytest.approx((5.5 / 6) / (2.5 / 103))
    assert s.ror == pytest.approx(5.5 * 100.5 / (0.5 * 2.5))
    assert math.isfinite(s.ror_upper)
    assert not stats(Table(3, 7, 4, 86)).corrected


def test_evans_criteria_thresholds_are_inclusive_and_all_three_needed():
    assert evans(prr_value=2.0, chi2=4.0, a=3)
    assert not evans(prr_value=1.999, chi2=50, a=30)
    assert not evans(prr_value=10, chi2=3.999, a=30)
    assert not evans(prr_value=10, chi2=50, a=2)


def test_a_strong_pair_of_two_reports_is_not_a_signal_and_three_are():
    two = stats(Table(2, 0, 0, 200))
    assert two.prr > 2 and two.chi2 > 4 and not two.evans
    three = stats(Table(3, 0, 0, 200))
    assert three.evans


def test_a_common_pair_is_not_a_signal():
    # Reported with the drug as often as with everything else: PRR 1.
    s = stats(Table(10, 90, 100, 900))
    assert s.prr == pytest.approx(1.0) and s.chi2 < 4 and not s.evans
    assert s.ror_lower < 1 < s.ror_upper and s.ic025 < 0


def test_table_from_margins_and_refusals():
    t = Table.from_margins(a=3, drug=10, reaction=7, total=100)
    assert t == Table(3, 7, 4, 86)
    with pytest.raises(ValueError):
        Table.from_margins(a=5, drug=3, reaction=7, total=100)
