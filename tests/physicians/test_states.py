"""The licence state machine: every pair of statuses, legal or not.

The expected table is written out here by hand (from the diagram in physicians/states.py), not
read from ``ALLOWED``, so a change to the machine has to change this test too.
"""

from __future__ import annotations

from itertools import product

import pytest

from core.errors import IllegalTransition
from physicians.states import ALLOWED, LicenceStatus, transition

P, V, R, S = (LicenceStatus.PENDING, LicenceStatus.VERIFIED, LicenceStatus.REJECTED,
              LicenceStatus.SUSPENDED)

LEGAL = {
    (P, V),  # verify
    (P, R),  # reject
    (V, S),  # suspend
    (S, V),  # reinstate
}
ALL_PAIRS = list(product(LicenceStatus.values, repeat=2))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in LEGAL]


def test_the_table_covers_every_status():
    assert set(LicenceStatus.values) == {"pending", "verified", "rejected", "suspended"}
    assert set(ALLOWED) == set(LicenceStatus.values)
    assert len(ALL_PAIRS) == 16 and len(ILLEGAL) == 12


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_legal_moves_return_the_target(current, target):
    assert transition(current, target) == target


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_every_other_move_is_refused(current, target):
    with pytest.raises(IllegalTransition) as info:
        transition(current, target)
    assert info.value.current == current and info.value.target == target
    assert f"from {current} to {target}" in str(info.value)


@pytest.mark.parametrize("target", LicenceStatus.values)
def test_rejected_is_final(target):
    with pytest.raises(IllegalTransition):
        transition(LicenceStatus.REJECTED, target)


@pytest.mark.parametrize("current", ["", "unknown", "VERIFIED"])
def test_unknown_current_status_is_refused(current):
    with pytest.raises(IllegalTransition):
        transition(current, LicenceStatus.VERIFIED)


def test_plain_strings_work_like_the_enum():
    # The model stores plain strings; a row read back must move the same way.
    assert transition("pending", "verified") == "verified"
    with pytest.raises(IllegalTransition):
        transition("verified", "pending")
