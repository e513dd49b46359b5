"""Every known-wrong variant in the pack is caught, and each can be told apart from the others.

For diagnosis to name a misconception, the mutant that embodies it must (1) fail: differ from
the reference far beyond the float32 tolerance on some graded case, raise, mutate an input or
lose gradients, and (2) be distinguishable from every other mutant of its track on some case.
Both are checked on the graded cases of seed 0 and of one other seed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from attn_drill.grading import harness
from attn_drill.grading.cases import build_cases
from attn_drill.grading.streams import violations
from attn_drill.problems import builtin_problems
from tests.helpers import code_track_params

if TYPE_CHECKING:
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.problems import Problem, TrackSpec

SEEDS = (0, 11)
# 100x the float32 absolute tolerance: a mutant must be *far* from the reference, not just
# outside the tolerance by a rounding error.
FAR = 1e-3

@dataclass
class Outcome:
    """What one implementation did on one case, reduced to what the grader can observe."""

    error: str | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    structure_error: str | None = None
    inputs_after: dict[str, np.ndarray] = field(default_factory=dict)
    # properties judged on how the call behaved (memory, reading a stream), not its numbers
    broken: set[str] = field(default_factory=set)


def run(target: Any, spec: TrackSpec, case: ConcreteCase, track: str) -> Outcome:
    try:
        returned = harness.call(target, spec, case, track, reference=True)
    except Exception as exc:  # a mutant that raises is caught: that is an observable outcome
        return Outcome(error=f"{type(exc).__name__}: {exc}")
    return Outcome(
        arrays=returned.arrays,
        structure_error=returned.structure_error,
        inputs_after=returned.inputs_after,
        broken=violations(spec, case, returned.types, track),
    )


def far_apart(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    if a.shape != b.shape:
        return True
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return not np.allclose(a64, b64, rtol=0.0, atol=FAR, equal_nan=True)


def differs(a: Outcome, b: Outcome) -> str | None:
    """Why the two outcomes can be told apart, or None when they cannot."""
    if (a.error is None) != (b.error is None):
        return "one raises"
    if a.error is not None:
        return None  # both raise: indistinguishable on this case
    if (a.structure_error is None) != (b.structure_error is None):
        return "return structure"
    for key in sorted(set(a.arrays) | set(b.arrays)):
        if far_apart(a.arrays.get(key), b.arrays.get(key)):
            return f"output {key!r}"
    for key in sorted(set(a.inputs_after) | set(b.inputs_after)):
        if far_apart(a.inputs_after.get(key), b.inputs_after.get(key)):
            return f"input {key!r} after the call"
    if a.broken != b.broken:
        return f"breaks {sorted(a.broken ^ b.broken)}"
    return None


def outcomes(problem: Problem, track: str) -> dict[str, list[Outcome]]:
    """Reference and every mutant, run on the graded cases of each seed."""
    spec = problem.tracks[track]
    stem = f"{problem.module_stem}_{track}"
    implementations = {
        "<reference>": harness.load_object(
            problem.reference_path(track), spec.entry, f"_test_ref_{stem}"
        )
    }
    mutants_module = harness.load_module_from_path(problem.mutants_path(track), f"_test_mut_{stem}")
    for mutant in spec.mutants:
        implementations[mutant.name] = getattr(mutants_module, mutant.name)
    cases = [case for seed in SEEDS for case in build_cases(spec, seed=seed)]
    return {
        name: [run(target, spec, case, track) for case in cases]
        for name, target in implementations.items()
    }


@pytest.mark.parametrize(("problem_id", "track"), code_track_params())
def test_every_mutant_fails_and_is_distinguishable(problem_id: str, track: str) -> None:
    problem = builtin_problems()[problem_id]
    spec = problem.tracks[track]
    results = outcomes(problem, track)
    reference = results["<reference>"]
    assert all(o.error is None for o in reference), [o.error for o in reference if o.error]

    for mutant in spec.mutants:
        got = results[mutant.name]
        reasons = [differs(r, m) for r, m in zip(reference, got, strict=True)]
        assert any(reasons), (
            f"{problem_id}/{track}: mutant {mutant.name} ({mutant.misconception}) passes every "
            "graded case; add a case that exposes it"
        )

    for first, second in itertools.combinations([m.name for m in spec.mutants], 2):
        told_apart = any(
            differs(a, b) for a, b in zip(results[first], results[second], strict=True)
        )
        assert told_apart, (
            f"{problem_id}/{track}: mutants {first} and {second} behave identically on every "
            "graded case, so diagnosis cannot tell them apart"
        )


@pytest.mark.parametrize(("problem_id", "track"), code_track_params())
def test_mutants_are_listed_and_tagged(problem_id: str, track: str) -> None:
    """Each YAML mutant exists in its file, and each property misconception is a listed id."""
    problem = builtin_problems()[problem_id]
    spec = problem.tracks[track]
    source = problem.mutants_path(track).read_text(encoding="utf-8")
    known = {m.id for m in problem.misconceptions}
    for mutant in spec.mutants:
        assert f"def {mutant.name}(" in source or f"class {mutant.name}(" in source, mutant.name
        assert mutant.misconception in known
    assert spec.mutants, f"{problem_id}/{track} has no mutants"
    # Properties the grader checks map to diagnosis ids that must be explained per problem.
    property_ids = {
        "no-mutation": "mutates-input",
        "batch-dims": "no-batch-dims",
        "mask": "ignores-mask",
        "gradients": "no-gradient",
    }
    for prop, misconception_id in property_ids.items():
        if prop in spec.properties:
            assert misconception_id in known, (
                f"{problem_id}: property {prop!r} is graded but {misconception_id!r} "
                "is not in its misconceptions"
            )
