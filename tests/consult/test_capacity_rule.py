"""The capacity rule of the case lifecycle (consult/states.py ``capacity_moves``), which the
services and the network simulator share: leaving ``claimed`` releases, a reopen back to
``claimed`` takes, and nothing moves without an accepting specialist."""

from __future__ import annotations

import pytest

from consult.states import CASE_ALLOWED, CaseStatus, capacity_moves

S = CaseStatus


@pytest.mark.parametrize("target", [S.OPEN, S.RESOLVED, S.WITHDRAWN, S.CLOSED])
def test_every_move_out_of_claimed_releases_and_takes_nothing(target):
    assert capacity_moves(S.CLAIMED, target, accepted=True) == (True, False)


def test_claim_from_open_takes_nothing_here_the_routing_step_does():
    assert capacity_moves(S.OPEN, S.CLAIMED, accepted=True) == (False, False)


@pytest.mark.parametrize("before", [S.RESOLVED, S.CLOSED])
def test_reopen_to_claimed_takes_again(before):
    assert capacity_moves(before, S.CLAIMED, accepted=True) == (False, True)


def test_without_an_accepting_specialist_no_move_touches_capacity():
    for before, targets in CASE_ALLOWED.items():
        for target in targets:
            assert capacity_moves(before, target, accepted=False) == (False, False)


def test_at_most_one_of_release_and_take_per_move():
    for before, targets in CASE_ALLOWED.items():
        for target in targets:
            assert sum(capacity_moves(before, target, accepted=True)) <= 1
