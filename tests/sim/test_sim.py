"""The network simulator (sim/), short: it drives the real routing code, keeps the routing
and capacity invariants on every step, and the same seed gives the same figures."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from consult.states import CaseStatus
from consult.triage import RoutingPolicy
from sim.__main__ import main
from sim.engine import MASS_CASUALTY, START, Burst, Config, Sim
from sim.figures import gini, lottery_over_2x, pct, run_figures

SHORT = Config(seed=11, days=1.5, physicians=1500, urgent_share=0.3,
               bursts=(dataclasses.replace(MASS_CASUALTY, day=0.5, hour=2, count=40),))


@pytest.fixture(scope="module")
def short_run() -> Sim:
    sim = Sim(SHORT)
    sim.run()  # raises InvariantBroken on a case accepted twice or capacity off by one
    return sim


def test_the_short_month_routes_every_case_and_ends_with_no_capacity_held(short_run):
    sim = short_run
    assert len(sim.cases) > 100
    assert sim.violations == []
    for case in sim.cases.values():
        assert case.claims <= case.rounds
        assert case.status in (CaseStatus.RESOLVED, CaseStatus.WITHDRAWN, CaseStatus.OPEN)
    for doc in sim.net.docs:
        assert asyncio.run(sim.store.consults_open(doc.id)) == 0
        assert asyncio.run(sim.store.consults_held(doc.id)) == set()
    assert all(not held for held in sim.held.values())
    assert sum(doc.accepted for doc in sim.net.docs) >= sum(
        1 for c in sim.cases.values() if c.accepted_at is not None)


def test_every_urgent_case_is_offered_at_once_while_anyone_eligible_is_online(short_run):
    eligible = [c for c in short_run.cases.values() if c.eligible_at_post]
    assert eligible
    assert all(c.first_offer_at == c.posted_at for c in eligible)
    assert run_figures(short_run)["eligible"]["never_offered"] == 0


def test_the_mass_casualty_burst_is_routed(short_run):
    burst = [c for c in short_run.cases.values() if c.label == MASS_CASUALTY.label]
    assert len(burst) == 40
    assert sum(c.accepted_at is not None for c in burst) >= 30


def test_same_seed_same_figures_and_another_seed_others(short_run):
    again = Sim(SHORT)
    again.run()
    assert run_figures(again) == run_figures(short_run)
    other = Sim(dataclasses.replace(SHORT, seed=12))
    other.run()
    assert run_figures(other) != run_figures(short_run)


def test_a_specialty_nobody_practises_goes_to_the_lounge_and_is_never_offered():
    cfg = Config(seed=3, days=0.5, physicians=600, bursts=(
        Burst(day=0, hour=1, minutes=10, count=5, country="US",
              specialties=("medical-genetics",)),), cases_per_year=0)
    sim = Sim(cfg)
    sim.run()
    cases = list(sim.cases.values())
    assert len(cases) == 5
    for c in cases:
        assert not c.eligible_at_post and c.first_offer_at is None and c.tier == 4
        assert c.status == CaseStatus.WITHDRAWN  # the poster gave up; nothing held
    assert sim.violations == []


def test_policies_change_what_the_router_does():
    base = dataclasses.replace(SHORT, days=0.75, bursts=())
    one, five = Sim(dataclasses.replace(base, policy=RoutingPolicy(k=1))), Sim(
        dataclasses.replace(base, policy=RoutingPolicy(k=5)))
    one.run()
    five.run()
    f1, f5 = run_figures(one)["eligible"], run_figures(five)["eligible"]
    assert f1["offers_per_accepted"] < f5["offers_per_accepted"]
    assert f1["accept_p50_s"] > f5["accept_p50_s"]


def test_the_clock_is_fake_and_starts_on_a_monday():
    sim = Sim(dataclasses.replace(SHORT, days=0.01, bursts=()))
    sim.run()
    assert sim.now <= START + 3 * 86400


def test_gini_and_percentiles():
    assert gini([1, 1, 1, 1]) == 0
    assert gini([0, 0, 0, 4]) == pytest.approx(0.75)
    assert pct([5, 1, 3, 2, 4], 50) == 3
    assert pct([], 50) is None
    # An even lottery of one consult per specialist on average (Poisson(1), median 1): the
    # share above 2 is 1 - e^-1 (1 + 1 + 1/2) = 8.0 %, though nobody is favoured.
    assert lottery_over_2x(10_000, 10_000) == pytest.approx(0.0803, abs=0.001)
    assert lottery_over_2x(1, 10) == 0 and lottery_over_2x(4, 0) == 0
    assert lottery_over_2x(0, 0) is None


def test_the_command_prints_figures_and_targets(capsys):
    assert main(["--days", "0.25", "--physicians", "800", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "urgent accepted p50 <= 30 s" in out and "| this run |" in out
