"""Turn a problem's case specs into concrete inputs, reproducibly from a seed.

Every random case draws from its own generator seeded by (seed, case index), so adding a case
never changes the numbers of the others and `--seed N` reproduces a grade exactly. What each
input is (role, dtype, how it is passed) is resolved here once, from the track's `inputs`
declarations and the values (grading.inputs), and travels with the case to the child.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from attn_drill.grading.inputs import (
    GENERATORS,
    Blocks,
    InputInfo,
    as_array,
    check_integer_literal,
    literal_value,
    resolve_info,
    resolve_shape,
)

if TYPE_CHECKING:
    from attn_drill.problems import Case, InputSpec, TrackSpec

__all__ = ["ConcreteCase", "build_case", "build_cases", "generate_input", "resolve_shape"]


@dataclass
class ConcreteCase:
    """One graded call: inputs in signature order, plus keyword args and module set-up."""

    name: str
    tags: list[str]
    dims: dict[str, int]
    inputs: dict[str, Any]  # np.ndarray, or Blocks for an iterator input
    args: dict[str, Any] = field(default_factory=dict)
    init: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    # Upstream gradient for backward checks of modules (fixed per case, never all-ones so a
    # module that sums over the wrong axis cannot hide).
    grad_output: np.ndarray | None = None
    is_random: bool = False
    info: dict[str, InputInfo] = field(default_factory=dict)  # what each input is
    chunks: list[int] = field(default_factory=list)  # one call per chunk (grading/chunks.py)

    def input_info(self, name: str) -> InputInfo:
        known = self.info.get(name)
        if known is not None:
            return known
        value = self.inputs.get(name)
        boolean = isinstance(value, np.ndarray) and value.dtype == bool
        return resolve_info(None, kind="mask" if boolean else None)

    def inputs_with_role(self, role: str) -> dict[str, Any]:
        return {k: v for k, v in self.inputs.items() if self.input_info(k).role == role}

    def mask(self) -> np.ndarray | None:
        """The mask input as booleans (True / non-zero = may attend), or None."""
        for name, value in self.inputs.items():
            if self.input_info(name).is_mask and isinstance(value, np.ndarray) and value.ndim:
                return value if value.dtype == bool else value != 0
        return None

    def grad_inputs(self) -> list[str]:
        """Inputs whose gradient the torch track takes (float data by default)."""
        return [k for k in self.inputs if self.input_info(k).grad]


def generate_input(spec: InputSpec, shape: tuple[int, ...], rng: np.random.Generator,
                   dims: dict[str, int] | None = None) -> Any:
    if spec.kind not in GENERATORS:
        raise ValueError(f"unknown input kind {spec.kind!r}")
    return GENERATORS[spec.kind](spec, shape, rng, dims or {})


def build_cases(track: TrackSpec, seed: int = 0) -> list[ConcreteCase]:
    """Concrete cases for a track, fixed ones first, random ones drawn from `seed`."""
    concrete = []
    for index, case in enumerate(track.cases):
        concrete.append(build_case(case, seed, index, track))
    return concrete


def build_case(case: Case, seed: int, index: int, track: TrackSpec | None = None) -> ConcreteCase:
    rng = np.random.default_rng([seed, index])
    declared = track.inputs if track is not None else {}
    inputs: dict[str, Any] = {}
    info: dict[str, InputInfo] = {}
    # The call order: the track's declaration order when it declares every input of the case,
    # else literal inputs first, then generated ones, each in the YAML's order.
    order = list(case.inputs) + [k for k in case.random if k not in case.inputs]
    if declared and set(order) <= set(declared):
        order = [k for k in declared if k in order]
    for name in order:
        if name in case.inputs:
            info[name] = resolve_info(declared.get(name), literal=case.inputs[name])
            if info[name].dtype == "int64":
                try:
                    check_integer_literal(name, case.inputs[name])
                except ValueError as error:
                    raise ValueError(f"case {case.name!r}: {error}") from None
            inputs[name] = literal_value(case.inputs[name], info[name])
        else:
            spec = case.random[name]
            info[name] = resolve_info(declared.get(name), kind=spec.kind)
            value = generate_input(spec, resolve_shape(spec.shape, case.dims, case.name), rng,
                                   case.dims)
            inputs[name] = (value.map(lambda part, i=info[name]: as_array(part, i.dtype))
                            if isinstance(value, Blocks) else as_array(value, info[name].dtype))
    params = {
        name: generate_input(spec, resolve_shape(spec.shape, case.dims, case.name), rng,
                             case.dims)
        for name, spec in case.params.items()
    }
    grad_output = None
    if case.params:
        # A module's forward output has the shape of its (first) data input.
        first = next((v for k, v in inputs.items() if info[k].role == "data"),
                     next(iter(inputs.values())))
        grad_output = rng.standard_normal(first.shape)
    return ConcreteCase(
        name=case.name,
        tags=list(case.tags),
        dims=dict(case.dims),
        inputs=inputs,
        args=dict(case.args),
        init=dict(case.init),
        params=params,
        expected={k: as_array(v, "float") for k, v in case.expected.items()},
        grad_output=grad_output,
        is_random=case.is_random,
        info=info,
        chunks=list(case.chunks),
    )
