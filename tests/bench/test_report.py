"""Repeated bench runs are summarized without hiding a failure: medians for figures, the
worst run for losses."""

from __future__ import annotations

from bench.report import combine_runs


def test_repeated_runs_give_medians_and_keep_the_worst_loss():
    runs = [[{"app": "curbside", "offered": 100, "deliveries_per_s": v, "p99_ms": p, "lost": lost}]
            for v, p, lost in ((900, 40.0, 0), (1200, 12.5, 7), (1000, 20.0, 0))]
    (row,) = combine_runs(runs, spread=("deliveries_per_s",))
    assert row["deliveries_per_s"] == 1000 and row["p99_ms"] == 20.0
    assert row["lost"] == 7  # one lossy run is never averaged away
    assert row["deliveries_per_s_runs"] == [900, 1200, 1000] and row["runs"] == 3
    assert row["app"] == "curbside" and row["offered"] == 100


def test_an_even_number_of_runs_takes_the_middle_two():
    runs = [[{"p50_ms": v}] for v in (10.0, 30.0)]
    assert combine_runs(runs)[0]["p50_ms"] == 20.0
