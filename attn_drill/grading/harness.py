"""Call a solution (learner's, reference or mutant) on a concrete case, uniformly.

The same code runs in the isolated child (learner code) and in the trusted grader (references
and mutants), so every implementation is exercised in exactly the same way. The harness never
converts a wrong return type into a right one: it reports what came back (`Returned.types`) and
the checks decide.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attn_drill.grading import tracks
from attn_drill.grading.inputs import Blocks
from attn_drill.grading.streams import OneShotBlocks

if TYPE_CHECKING:
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.problems import TrackSpec

MODULE_PARAMS = ("W_q", "W_k", "W_v", "W_o")
GRAD_NOTE = "grad-note:"  # Returned.types["grad-note:<param>"]: "unused" or "detached"
BACKWARD_ERROR = "backward-error"  # Returned.types[...]: why backward raised, in torch's words


class ModuleSetupError(Exception):
    """The grader could not load a case's weights into the learner's module. `plain_message`
    says what to change; the child reports it as it is (it is not the learner's exception)."""

    def __init__(self, plain_message: str) -> None:
        super().__init__(plain_message)
        self.plain_message = plain_message


@dataclass
class Returned:
    """What one call produced, as plain NumPy data the grader can compare."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # "ndarray", "tensor", "list", ...
    structure_error: str | None = None  # e.g. "returned 1 value, expected 2 (output, weights)"
    inputs_after: dict[str, np.ndarray] = field(default_factory=dict)


def load_module_from_path(path: Path, module_name: str) -> Any:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def load_object(path: Path, name: str, module_name: str | None = None) -> Any:
    module = load_module_from_path(path, module_name or f"_attn_drill_{path.stem}")
    return getattr(module, name)


def _describe(value: Any) -> str:
    module = type(value).__module__
    if isinstance(value, np.ndarray):
        return "ndarray"
    if module.startswith("torch") and type(value).__name__ in ("Tensor", "Parameter"):
        return "tensor"
    if isinstance(value, list):
        return "list"
    if isinstance(value, tuple):
        return "tuple"
    if isinstance(value, (int, float, np.floating, np.integer)):
        return "scalar"
    return f"other:{type(value).__name__}"


def to_numpy(value: Any) -> np.ndarray | None:
    """Best-effort conversion used only to *show* and compare; the type is judged separately."""
    kind = _describe(value)
    try:
        if kind == "tensor":
            return value.detach().cpu().numpy()
        if kind in ("ndarray", "list", "tuple", "scalar"):
            array = np.asarray(value)
            return array if array.dtype != object else None
    except (TypeError, ValueError, RuntimeError):
        return None
    return None


DTYPE_PREFIX = "dtype:"  # Returned.types["dtype:<output>"]: a dtype the grader cannot read


def _unreadable_dtype(value: Any) -> str:
    """The dtype name of an array or tensor whose numbers cannot be graded as they are
    (bfloat16 tensors, object arrays), else ""."""
    kind = _describe(value)
    if kind == "tensor":
        name = str(value.dtype).removeprefix("torch.")
        return name if name == "bfloat16" else ""
    if kind == "ndarray" and value.dtype == object:
        return "object"
    return ""


def _collect(result: Any, outputs: list[str]) -> Returned:
    returned = Returned()
    if len(outputs) == 1:
        values = [result]
    else:
        if not isinstance(result, tuple):
            returned.structure_error = (
                f"returned a single {_describe(result)}, expected a tuple of {len(outputs)} "
                f"values ({', '.join(outputs)})"
            )
            values = [result]
        elif len(result) != len(outputs):
            returned.structure_error = (
                f"returned {len(result)} values, expected {len(outputs)} ({', '.join(outputs)})"
            )
            values = list(result)[: len(outputs)]
        else:
            values = list(result)
    for name, value in zip(outputs, values, strict=False):
        returned.types[name] = _describe(value)
        unreadable = _unreadable_dtype(value)
        if unreadable:
            returned.types[DTYPE_PREFIX + name] = unreadable
            continue
        array = to_numpy(value)
        if array is not None:
            returned.arrays[name] = array
    return returned


def convert_inputs(case: ConcreteCase, convert: Any) -> dict[str, Any]:
    """The values the submission is called with: each array converted for the track, then
    passed as the input's declaration says (array, Python list or number, one-shot iterator)."""
    values: dict[str, Any] = {}
    for name, value in case.inputs.items():
        info = case.input_info(name)
        if isinstance(value, Blocks):
            # Counts what the call reads (grading/streams.py); each block a fresh copy.
            values[name] = OneShotBlocks(value.items, convert, name)
        elif info.pass_as == "list":
            values[name] = value.tolist()
        elif info.pass_as == "scalar":
            values[name] = value.item()
        else:
            values[name] = convert(value)
    return values


def call_measured(target: Any, positional: list[Any], keywords: dict[str, Any],
                  case: ConcreteCase) -> tuple[Any, dict[str, str]]:
    from attn_drill.grading.streams import call_measured as measured

    return measured(target, positional, keywords, case)


def split_inputs(inputs: dict[str, Any], spec: TrackSpec) -> tuple[list[Any], dict[str, Any]]:
    """Inputs in signature order, except those the track passes by keyword (`keyword_inputs`)."""
    keyword_names = set(spec.keyword_inputs)
    positional = [v for k, v in inputs.items() if k not in keyword_names]
    keywords = {k: v for k, v in inputs.items() if k in keyword_names}
    return positional, keywords


def call_function(
    target: Any, spec: TrackSpec, case: ConcreteCase, track: str, reference: bool = False
) -> Returned:
    """Call a function solution with the inputs converted for the track (grading.tracks)."""
    kind = tracks.get_track(track)
    inputs = convert_inputs(case, lambda v: kind.convert(v, reference))
    if case.chunks and getattr(spec, "chunked", None):
        from attn_drill.grading.chunks import call_in_chunks

        return call_in_chunks(target, spec, case, track, inputs)
    streams = [v for v in inputs.values() if isinstance(v, OneShotBlocks)]
    positional, keywords = split_inputs(inputs, spec)
    try:
        result, notes = call_measured(target, positional, keywords, case)
    except BaseException as exc:
        for stream in streams:
            stream.annotate(exc)
        raise
    returned = _collect(result, spec.outputs)
    returned.types.update(notes)
    for stream in streams:
        returned.types.update(stream.notes())
    returned.inputs_after = _arrays_after(inputs)
    # Stability cases test the forward pass; their float32 gradients (scores near 1000) are
    # not meaningfully comparable.
    if "gradients" in spec.properties and "stability" not in case.tags:
        kind.function_gradients(target, spec, case, reference, returned)
    return returned


def _arrays_after(inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    """The inputs as they are after the call (an iterator has nothing to compare)."""
    after = {}
    for name, value in inputs.items():
        array = to_numpy(value)
        if array is not None:
            after[name] = array
    return after


def grad_output_for(shape: tuple[int, ...]) -> np.ndarray:
    """The fixed upstream gradient of a function's first output (never all ones, so a
    gradient summed over the wrong axis cannot hide); the same in the child and the parent."""
    rng = np.random.default_rng([*shape, 7919])
    return rng.standard_normal(shape)


def eval_input(x: np.ndarray) -> np.ndarray:
    """The module's eval-mode input: as large as x, but different numbers (fixed by x's shape,
    so the child, the parent and a saved case's snippet all build the same one)."""
    rng = np.random.default_rng([*x.shape, 104729])
    return rng.standard_normal(x.shape) * float(np.std(x) or 1.0)


def call(
    target: Any, spec: TrackSpec, case: ConcreteCase, track: str, reference: bool = False
) -> Returned:
    if spec.call == "module":
        return tracks.get_track(track).call_module(target, spec, case, reference)
    return call_function(target, spec, case, track, reference)
