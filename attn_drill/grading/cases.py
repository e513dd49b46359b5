"""Turn a problem's case specs into concrete NumPy inputs, reproducibly from a seed.

Every random case draws from its own generator seeded by (seed, case index), so adding a case
never changes the numbers of the others and `--seed N` reproduces a grade exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from attn_drill.problems import Case, InputSpec, TrackSpec


@dataclass
class ConcreteCase:
    """One graded call: inputs in signature order, plus keyword args and module set-up."""

    name: str
    tags: list[str]
    dims: dict[str, int]
    inputs: dict[str, np.ndarray]
    args: dict[str, Any] = field(default_factory=dict)
    init: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    # Upstream gradient for backward checks of modules (fixed per case, never all-ones so a
    # module that sums over the wrong axis cannot hide).
    grad_output: np.ndarray | None = None
    is_random: bool = False
    chunks: list[int] = field(default_factory=list)  # one call per chunk (grading/chunks.py)


def resolve_shape(shape: list[int | str], dims: dict[str, int], case_name: str) -> tuple[int, ...]:
    resolved = []
    for dim in shape:
        if isinstance(dim, int):
            resolved.append(dim)
        elif dim in dims:
            resolved.append(dims[dim])
        else:
            raise ValueError(f"case {case_name!r}: shape uses unknown dimension {dim!r}")
    return tuple(resolved)


def _ensure_row_has_key(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    empty = ~mask.any(axis=-1)
    if empty.any():
        idx = np.argwhere(empty)
        cols = rng.integers(0, mask.shape[-1], size=len(idx))
        mask[(*idx.T, cols)] = True
    return mask


def generate_input(spec: InputSpec, shape: tuple[int, ...], rng: np.random.Generator,
                   dims: dict[str, int] | None = None) -> np.ndarray:
    if spec.kind == "normal":
        return rng.standard_normal(shape) * spec.scale
    if spec.kind == "uniform":
        return rng.uniform(-spec.scale, spec.scale, size=shape)
    if spec.kind == "integers":
        low, high = (resolve_shape([bound], dims or {}, "integers")[0]
                     for bound in (spec.low, spec.high))
        return rng.integers(low, high, size=shape, endpoint=True, dtype=np.int64)
    if not shape:
        raise ValueError("a mask needs a shape")
    m = shape[-1]
    if spec.kind == "causal-mask":
        n = shape[-2] if len(shape) >= 2 else 1
        causal = np.tril(np.ones((n, m), dtype=bool))
        return np.broadcast_to(causal, shape).copy()
    if spec.kind == "padding-mask":
        # Each leading index keeps a prefix of keys; at least one entry is padded so the mask
        # actually changes the answer, and at least one key stays visible in every row.
        lead = shape[:-1]
        lengths = rng.integers(1, max(m, 2), size=(*lead[:-1], 1)) if lead else None
        keys = np.arange(m)
        if lengths is None:
            length = int(rng.integers(1, max(m, 2)))
            return keys < length
        return np.broadcast_to(keys < lengths[..., None], shape).copy()
    if spec.kind == "random-mask":
        mask = rng.random(shape) < 0.6
        return _ensure_row_has_key(mask, rng)
    raise ValueError(f"unknown input kind {spec.kind!r}")


def _literal(value: Any, plain: bool = False, integer: bool = False) -> np.ndarray:
    """A literal input as an array: float64 (or bool) for array inputs; a plain Python input
    (an int, a float, a list of ints) keeps its integer dtype, and an empty list is int64."""
    if integer:
        numbers = np.asarray(value)
        if numbers.dtype.kind not in "iub" and not (
                numbers.dtype.kind == "f" and np.all(numbers == np.round(numbers))):
            raise ValueError(f"an integer input holds non-integer values: {value!r}")
        return numbers.astype(np.int64)
    array = np.asarray(value)
    if array.dtype == bool:
        return array
    if plain:
        return array.astype(np.int64) if array.size == 0 else array
    return array.astype(np.float64)


def build_cases(track: TrackSpec, seed: int = 0) -> list[ConcreteCase]:
    """Concrete cases for a track, fixed ones first, random ones drawn from `seed`."""
    concrete = []
    for index, case in enumerate(track.cases):
        concrete.append(build_case(case, seed, index, track.python_inputs, track.input_order,
                                   track.integer_inputs))
    return concrete


def build_case(case: Case, seed: int, index: int, python_inputs: list[str] | None = None,
               input_order: list[str] | None = None,
               integer_inputs: list[str] | None = None) -> ConcreteCase:
    rng = np.random.default_rng([seed, index])
    inputs: dict[str, np.ndarray] = {}
    plain = set(python_inputs or ())
    # Literal and generated inputs keep the YAML's order (it is the signature's order), or
    # the track's `input_order` when a case mixes both.
    order = list(case.inputs) + [k for k in case.random if k not in case.inputs]
    if input_order:
        rank = {name: position for position, name in enumerate(input_order)}
        order.sort(key=lambda name: rank.get(name, len(rank)))
    for name in order:
        if name in case.inputs:
            inputs[name] = _literal(case.inputs[name], plain=name in plain,
                                    integer=name in (integer_inputs or ()))
        else:
            spec = case.random[name]
            shape = resolve_shape(spec.shape, case.dims, case.name)
            inputs[name] = generate_input(spec, shape, rng, case.dims)
    params = {
        name: generate_input(spec, resolve_shape(spec.shape, case.dims, case.name), rng)
        for name, spec in case.params.items()
    }
    grad_output = None
    if case.params:
        # Shape of the forward output equals the first input's shape for the module problems.
        first = next(iter(inputs.values()))
        grad_output = rng.standard_normal(first.shape)
    return ConcreteCase(
        name=case.name,
        tags=list(case.tags),
        dims=dict(case.dims),
        inputs=inputs,
        args=dict(case.args),
        init=dict(case.init),
        params=params,
        expected={k: _literal(v) for k, v in case.expected.items()},
        grad_output=grad_output,
        is_random=case.is_random,
        chunks=list(case.chunks),
    )
