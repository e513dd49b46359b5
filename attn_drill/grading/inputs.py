"""What a graded input is: its role, its dtype, how it is passed, and how it is generated.

A track may declare each input in its YAML (`inputs: {positions: {role: positions}}`); an
input it does not declare keeps the meaning every pack had before declarations existed: a
boolean value (or a `*-mask` generator) is the mask, anything else is float data.

- `role` says what the input is to the grader: data (carries the sequence axis and takes
  gradients), weight, mask (True / non-zero = may attend), positions and lengths (int64),
  cache (float, may have a 0-length axis), blocks (an iterator of tuples of arrays), option (a
  plain argument such as a window size or a list of positions).
- `dtype`: float (float64 on the NumPy track, float32 tensors on the torch track, float64 for
  references), int64 or bool; unset: as the values say.
- `pass_as`: array (an ndarray or tensor), list (a Python list), scalar (a Python number) or
  iterator (a one-shot generator of tuples, each element converted like an array).

Generators (`kind` of a random input) are registered in `GENERATORS`.

Lean on purpose: the child process and problem loading import it; numpy is imported by the
functions that need it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Role:
    name: str
    dtype: str | None  # the dtype when the YAML gives none (None: as the values say)
    grad: bool  # the torch track takes its gradient (when it is float)
    sequence: bool  # carries the sequence axis (derived cases permute / change it)
    pass_as: str = "array"
    mask: bool = False


ROLES: dict[str, Role] = {r.name: r for r in (
    Role("data", None, grad=True, sequence=True),
    Role("weight", "float", grad=True, sequence=False),
    Role("mask", None, grad=False, sequence=False, mask=True),
    Role("positions", "int64", grad=False, sequence=False),
    Role("lengths", "int64", grad=False, sequence=False),
    Role("cache", "float", grad=True, sequence=False),
    Role("blocks", "float", grad=False, sequence=False, pass_as="iterator"),
    Role("option", None, grad=False, sequence=False),
)}
DTYPES = ("float", "int64", "bool")
PASS_AS = ("array", "list", "scalar", "iterator")


@dataclass(frozen=True)
class InputInfo:
    """The resolved meaning of one input of one case (sent to the child with the case)."""

    role: str = "data"
    dtype: str = "float"
    pass_as: str = "array"
    grad: bool = True

    @property
    def is_mask(self) -> bool:
        return ROLES[self.role].mask

    @property
    def carries_sequence(self) -> bool:
        return ROLES[self.role].sequence

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputInfo:
        return cls(**data)


def resolve_info(declared: Any, *, literal: Any = None, kind: str | None = None) -> InputInfo:
    """An input's info from its YAML declaration (or None) and its values: a literal, or the
    generator `kind` of a random input."""
    looks_boolean = (kind is not None and kind.endswith("mask")) or _is_boolean(literal)
    role_name = getattr(declared, "role", None) or ("mask" if looks_boolean else "data")
    role = ROLES[role_name]
    dtype = getattr(declared, "dtype", None) or role.dtype or (
        "bool" if looks_boolean else "float")
    pass_as = getattr(declared, "pass_as", None) or role.pass_as
    grad = getattr(declared, "grad", None)
    if grad is None:
        grad = role.grad and dtype == "float"
    return InputInfo(role=role.name, dtype=dtype, pass_as=pass_as, grad=bool(grad))


def _is_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_is_boolean(v) for v in value)
    return False


# -- values -------------------------------------------------------------------------------------


def as_array(value: Any, dtype: str) -> np.ndarray:
    """A literal (or generated) value as an array of the input's dtype."""
    import numpy as np

    array = np.asarray(value)
    if dtype == "bool" or (dtype == "float" and array.dtype == bool):
        # An undeclared boolean literal stays boolean (a mask); a declared float 0/1 mask
        # keeps its numbers.
        return array if array.dtype == bool else array.astype(bool)
    return array.astype(np.int64 if dtype == "int64" else np.float64)


@dataclass
class Blocks:
    """The value of an iterator input: a sequence of tuples of arrays (blocks of keys and
    values, say), passed to the submission as a one-shot generator."""

    items: list[tuple[Any, ...]]

    @property
    def shapes(self) -> list[tuple[tuple[int, ...], ...]]:
        return [tuple(part.shape for part in item) for item in self.items]

    def map(self, convert: Callable[[Any], Any]) -> Blocks:
        return Blocks([tuple(convert(part) for part in item) for item in self.items])


def check_integer_literal(name: str, value: Any) -> None:
    """An int64 input's literal must hold whole numbers: 1.5 would be cut to 1 silently."""
    import numpy as np

    numbers = np.asarray(value)
    if numbers.dtype.kind == "f" and not np.all(numbers == np.round(numbers)):
        raise ValueError(f"input {name!r} is declared int64 but holds non-integer values: "
                         f"{value!r}")
    if numbers.dtype.kind not in "iubf":
        raise ValueError(f"input {name!r} is declared int64 but holds {value!r}")


def literal_value(value: Any, info: InputInfo) -> Any:
    if info.pass_as == "iterator":
        return Blocks([tuple(as_array(part, info.dtype) for part in item) for item in value])
    return as_array(value, info.dtype)


def describe_shape(value: Any) -> str:
    """`(2, 5)` for an array, `2 blocks` for blocks (shown in check messages)."""
    if isinstance(value, Blocks):
        return f"{len(value.items)} blocks"
    shape = tuple(getattr(value, "shape", ()))
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# -- generators -----------------------------------------------------------------------------------


def _normal(spec: Any, shape: tuple[int, ...], rng: Any, dims: dict[str, int]) -> Any:
    return rng.standard_normal(shape) * spec.scale


def _uniform(spec: Any, shape: tuple[int, ...], rng: Any, dims: dict[str, int]) -> Any:
    return rng.uniform(-spec.scale, spec.scale, size=shape)


def _ensure_row_has_key(mask: np.ndarray, rng: Any) -> np.ndarray:
    import numpy as np

    empty = ~mask.any(axis=-1)
    if empty.any():
        idx = np.argwhere(empty)
        cols = rng.integers(0, mask.shape[-1], size=len(idx))
        mask[(*idx.T, cols)] = True
    return mask


def _causal_mask(spec: Any, shape: tuple[int, ...], rng: Any, dims: dict[str, int]) -> Any:
    import numpy as np

    _need_shape(shape)
    n = shape[-2] if len(shape) >= 2 else 1
    causal = np.tril(np.ones((n, shape[-1]), dtype=bool))
    return np.broadcast_to(causal, shape).copy()


def _padding_mask(spec: Any, shape: tuple[int, ...], rng: Any, dims: dict[str, int]) -> Any:
    import numpy as np

    _need_shape(shape)
    m = shape[-1]
    # Each leading index keeps a prefix of keys; at least one entry is padded so the mask
    # actually changes the answer, and at least one key stays visible in every row.
    lead = shape[:-1]
    lengths = rng.integers(1, max(m, 2), size=(*lead[:-1], 1)) if lead else None
    keys = np.arange(m)
    if lengths is None:
        length = int(rng.integers(1, max(m, 2)))
        return keys < length
    return np.broadcast_to(keys < lengths[..., None], shape).copy()


def _random_mask(spec: Any, shape: tuple[int, ...], rng: Any, dims: dict[str, int]) -> Any:
    _need_shape(shape)
    mask = rng.random(shape) < 0.6
    return _ensure_row_has_key(mask, rng)


def _need_shape(shape: tuple[int, ...]) -> None:
    if not shape:
        raise ValueError("a mask needs a shape")


def _integers(spec: Any, shape: tuple[int, ...], rng: Any, dims: dict[str, int]) -> Any:
    """Integers in [low, high] (both included): key lengths, positions, token ids."""
    low, high = (_bound(value, dims) for value in (spec.low, spec.high))
    return rng.integers(low, high + 1, size=shape)


def _bound(value: int | str, dims: dict[str, int]) -> int:
    """A generator bound: a number, or the name of one of the case's dims."""
    return resolve_shape([value], dims, "bound")[0]


def _arange(spec: Any, shape: tuple[int, ...], rng: Any, dims: dict[str, int]) -> Any:
    """low, low + 1, ... along the last axis (positions of consecutive tokens)."""
    import numpy as np

    if not shape:
        raise ValueError("arange needs a shape")
    return np.broadcast_to(np.arange(shape[-1]) + _bound(spec.low, dims), shape).copy()


def _blocks(spec: Any, shape: tuple[int, ...], rng: Any, dims: dict[str, int]) -> Any:
    """One tuple per entry of `sizes`, its parts generated by `parts` with the dimension
    `block` bound to that size (blocks of keys and values of uneven sizes)."""
    if not spec.sizes or not spec.parts:
        raise ValueError("a blocks input needs 'sizes' and 'parts'")
    items = []
    for size in spec.sizes:
        bound = {**dims, "block": int(size)}
        items.append(tuple(
            GENERATORS[part.kind](part, resolve_shape(part.shape, bound), rng, bound)
            for part in spec.parts.values()))
    return Blocks(items)


def resolve_shape(shape: list[int | str], dims: dict[str, int],
                  case_name: str = "") -> tuple[int, ...]:
    resolved = []
    for dim in shape:
        if isinstance(dim, int):
            resolved.append(dim)
        elif dim in dims:
            resolved.append(dims[dim])
        else:
            raise ValueError(f"case {case_name!r}: shape uses unknown dimension {dim!r}")
    return tuple(resolved)


Generator = Callable[[Any, tuple[int, ...], Any, dict[str, int]], Any]
GENERATORS: dict[str, Generator] = {
    "normal": _normal,
    "uniform": _uniform,
    "padding-mask": _padding_mask,
    "causal-mask": _causal_mask,
    "random-mask": _random_mask,
    "integers": _integers,
    "arange": _arange,
    "blocks": _blocks,
}
