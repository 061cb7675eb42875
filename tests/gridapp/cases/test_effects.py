"""Every effect a definition names has one implementation, and every implementation is used."""

from __future__ import annotations

import workflow
from gridapp.cases.effects import CLOCK, IMPLEMENTATIONS, RECORDING, TELLING


def _named() -> set[workflow.Effect]:
    return {
        effect
        for definition in workflow.PROCESSES.values()
        for row in definition.transitions
        for effect in row.effects
    }


def test_every_named_effect_has_an_implementation() -> None:
    assert _named() <= set(IMPLEMENTATIONS)


def test_every_implementation_is_named_by_some_definition() -> None:
    assert set(IMPLEMENTATIONS) <= _named()


def test_each_effect_is_implemented_once_in_its_phase() -> None:
    phases = [set(RECORDING), set(CLOCK), set(TELLING)]
    assert sum(len(p) for p in phases) == len(IMPLEMENTATIONS) == len(workflow.Effect)
    assert set(CLOCK) == workflow.CLOCK_EFFECTS
