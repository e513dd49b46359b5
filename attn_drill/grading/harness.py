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


def _as_torch(array: np.ndarray, float_dtype: Any) -> Any:
    import torch

    if array.dtype == bool or array.dtype.kind in "iu":
        return torch.from_numpy(array.copy())  # masks stay bool, positions and lengths int64
    return torch.from_numpy(array.copy()).to(float_dtype)


def call_inputs(case: ConcreteCase, spec: TrackSpec, track: str, float_dtype: Any = None
                ) -> dict[str, Any]:
    """Fresh copies of a case's inputs as the callee receives them: arrays (NumPy track),
    tensors (torch track), or plain Python values for the track's `python_inputs`."""
    plain = set(getattr(spec, "python_inputs", None) or ())
    inputs: dict[str, Any] = {}
    for name, value in case.inputs.items():
        if name in plain:
            inputs[name] = value.tolist()  # 0-d -> int/float, 1-d -> list
        elif track == "torch":
            inputs[name] = _as_torch(value, float_dtype)
        else:
            inputs[name] = value.copy()
    return inputs


def split_inputs(inputs: dict[str, Any], spec: TrackSpec) -> tuple[list[Any], dict[str, Any]]:
    """Inputs in signature order, except those the track passes by keyword (`keyword_inputs`)."""
    keyword_names = set(spec.keyword_inputs)
    positional = [v for k, v in inputs.items() if k not in keyword_names]
    keywords = {k: v for k, v in inputs.items() if k in keyword_names}
    return positional, keywords


def call_function(
    target: Any, spec: TrackSpec, case: ConcreteCase, track: str, reference: bool = False
) -> Returned:
    """Call a function solution. Torch track gets float32 tensors (float64 for references)."""
    dtype = None
    if track == "torch":
        import torch

        dtype = torch.float64 if reference else torch.float32
    inputs = call_inputs(case, spec, track, dtype)
    if getattr(case, "chunks", None) and getattr(spec, "blocks", None):
        from attn_drill.grading.streams import call_with_blocks

        return call_with_blocks(target, spec, case, track, inputs)
    if getattr(case, "chunks", None):
        from attn_drill.grading.chunks import call_in_chunks

        return call_in_chunks(target, spec, case, track, inputs)
    positional, keywords = split_inputs(inputs, spec)
    result = target(*positional, **keywords, **case.args)
    returned = _collect(result, spec.outputs)
    returned.inputs_after = {k: to_numpy(v) for k, v in inputs.items()}  # type: ignore[misc]
    # Stability cases test the forward pass; their float32 gradients (scores near 1000) are
    # not meaningfully comparable.
    if track == "torch" and "gradients" in spec.properties and "stability" not in case.tags:
        _function_gradients(target, spec, case, reference, returned)
    return returned


def grad_output_for(shape: tuple[int, ...]) -> np.ndarray:
    """The fixed upstream gradient of a function's first output (never all ones, so a
    gradient summed over the wrong axis cannot hide); the same in the child and the parent."""
    rng = np.random.default_rng([*shape, 7919])
    return rng.standard_normal(shape)


def _function_gradients(target: Any, spec: TrackSpec, case: ConcreteCase, reference: bool,
                        returned: Returned) -> None:
    """A second call with the float inputs requiring grad: backward of
    sum(output * grad_output) and the gradient of every float input as `grad:<name>`.

    A separate call, so that in-place edits of the inputs (reported by no-mutation) and
    `.numpy()` (reported by the type check) keep their own verdicts in the first one."""
    import torch

    dtype = torch.float64 if reference else torch.float32
    inputs = call_inputs(case, spec, "torch", dtype)
    leaves = {k: v for k, v in inputs.items()
              if isinstance(v, torch.Tensor) and v.is_floating_point() and "mask" not in k}
    for name, tensor in leaves.items():
        tensor.requires_grad_(True)
        # The learner gets a non-leaf copy: an in-place edit (judged by no-mutation) must not
        # turn into autograd's "leaf variable used in an in-place operation" error here.
        inputs[name] = tensor.clone()
    positional, keywords = split_inputs(inputs, spec)
    try:
        result = target(*positional, **keywords, **case.args)
        output = result[0] if isinstance(result, tuple) and result else result
        if not isinstance(output, torch.Tensor) or not output.requires_grad:
            return  # no graph at all: every gradient is missing
        upstream = torch.from_numpy(grad_output_for(tuple(output.shape))).to(output.dtype)
        (output * upstream).sum().backward()
    except Exception:  # raised while building or running the graph (e.g. `.numpy()` on a
        return  # tensor that requires grad): the gradients stay missing and are reported so
    for name, tensor in leaves.items():
        if tensor.grad is not None:  # arrays only: `types` describes what the call returned
            returned.arrays["grad:" + name] = tensor.grad.detach().cpu().numpy()


def eval_input(x: np.ndarray) -> np.ndarray:
    """The module's eval-mode input: as large as x, but different numbers (fixed by x's shape,
    so the child, the parent and a saved case's snippet all build the same one)."""
    rng = np.random.default_rng([*x.shape, 104729])
    return rng.standard_normal(x.shape) * float(np.std(x) or 1.0)


def call_module(
    target: Any, spec: TrackSpec, case: ConcreteCase, track: str, reference: bool = False
) -> Returned:
    """Instantiate an nn.Module solution, load the case's parameters, run forward + backward.

    Outputs: `output` (train mode), `output@eval` (eval mode, on `eval_input(x)`), and
    `grad:<name>` for the input `x` and every loaded parameter, from backward of
    sum(output * grad_output).
    """
    import torch

    dtype = torch.float64 if reference else torch.float32
    module = target(**case.init)
    module = module.to(dtype)
    with torch.no_grad():
        for name, value in case.params.items():
            _load_parameter(module, name, torch.from_numpy(value).to(dtype), spec.entry)
    inputs = {k: _as_torch(v, dtype) for k, v in case.inputs.items()}
    x_name = next(iter(inputs))
    inputs[x_name].requires_grad_(True)
    module.train()
    positional, keywords = split_inputs(inputs, spec)
    named_params = dict(module.named_parameters())
    with _TensorUse() as used:
        result = module(*positional, **keywords, **case.args)
    returned = _collect(result, spec.outputs)
    output = result if not isinstance(result, tuple) else result[0]
    if isinstance(output, torch.Tensor) and output.requires_grad and case.grad_output is not None:
        module.zero_grad(set_to_none=True)
        grad_out = torch.from_numpy(case.grad_output).to(dtype)
        try:
            (output * grad_out.reshape(output.shape)).sum().backward()
        except RuntimeError as exc:
            # A wrong shape (the output check reports it) or an in-place edit of a tensor
            # autograd needed: say which, in torch's words.
            lines = str(exc).strip().splitlines()
            returned.types[BACKWARD_ERROR] = (lines[0] if lines else type(exc).__name__)[:300]
        grads = {"grad:" + x_name: inputs[x_name].grad}
        for name in case.params:
            param = named_params.get(name)
            grads["grad:" + name] = None if param is None else param.grad
        for key, grad in grads.items():
            if grad is not None:
                returned.arrays[key] = grad.detach().cpu().numpy()
                returned.types[key] = "tensor"
            elif BACKWARD_ERROR not in returned.types:
                tensor = inputs[x_name] if key[5:] == x_name else named_params.get(key[5:])
                returned.types[GRAD_NOTE + key[5:]] = (
                    "detached" if tensor is not None and id(tensor) in used.ids else "unused")
    module.eval()
    # Fresh inputs for the eval pass: an in-place edit during the train pass (judged by
    # no-mutation) must not leak into it, and a different x means a module that caches its
    # first result cannot pass.
    eval_inputs = {k: _as_torch(v, dtype) for k, v in case.inputs.items()}
    eval_inputs[x_name] = _as_torch(eval_input(case.inputs[x_name]), dtype)
    positional, keywords = split_inputs(eval_inputs, spec)
    with torch.no_grad():
        eval_result = module(*positional, **keywords, **case.args)
    eval_output = eval_result[0] if isinstance(eval_result, tuple) else eval_result
    array = to_numpy(eval_output)
    if array is not None:
        returned.arrays["output@eval"] = array
        returned.types["output@eval"] = _describe(eval_output)
    returned.inputs_after = {k: v.detach().cpu().numpy() for k, v in inputs.items()}
    return returned


def _load_parameter(module: Any, name: str, value: Any, entry: str) -> None:
    """Copy one case weight (`W_q.weight`) into the learner's module, or say plainly why the
    module cannot take it."""
    import torch

    owner_name, _, attr = name.rpartition(".")
    owner = module
    if owner_name:
        try:
            owner = module.get_submodule(owner_name)
        except AttributeError:
            if getattr(module, owner_name.split(".")[0], None) is not None:
                raise ModuleSetupError(
                    f"{owner_name} is not an nn.Module in your {entry}: the grader loads the "
                    f"case's weights into {owner_name}.weight and {owner_name}.bias; make it "
                    "nn.Linear(d_model, d_model)") from None
            raise ModuleSetupError(
                f"{entry} has no attribute `{owner_name}`: the grader loads the case's weights "
                f"into self.{owner_name}.{attr}; create self.{owner_name} = "
                "nn.Linear(d_model, d_model) in __init__") from None
    tensor = getattr(owner, attr, None)
    if tensor is None and attr == "bias":
        raise ModuleSetupError(
            f"{owner_name} has no bias: the grader loads a bias into {name}; create "
            f"nn.Linear(d_model, d_model) with bias=True")
    if not isinstance(tensor, torch.Tensor):
        raise ModuleSetupError(
            f"{name} is not a tensor in your module: the grader loads the case's weights into "
            f"{name}; make {owner_name or name} an nn.Linear(d_model, d_model)")
    if tensor.numel() != value.numel():
        raise ModuleSetupError(
            f"{name} has shape {tuple(tensor.shape)}; the grader loads a weight of shape "
            f"{tuple(value.shape)} (nn.Linear(d_model, d_model) stores (out, in))")
    tensor.copy_(value.reshape(tensor.shape))


class _TensorUse:
    """Records every tensor passed to a torch operation while active (ids only), so that a
    parameter without a gradient can be told apart: never used by forward, or used and then
    cut off from the graph."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self._mode: Any = None

    def __enter__(self) -> _TensorUse:
        import torch
        from torch.overrides import TorchFunctionMode

        ids = self.ids

        def note(value: Any) -> None:
            if isinstance(value, torch.Tensor):
                ids.add(id(value))
            elif isinstance(value, (list, tuple)):
                for item in value:
                    note(item)
            elif isinstance(value, dict):
                for item in value.values():
                    note(item)

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func: Any, types: Any, args: Any = (),
                                   kwargs: Any = None) -> Any:
                note(args)
                note(kwargs or {})
                return func(*args, **(kwargs or {}))

        self._mode = Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._mode.__exit__(*exc)


def call(
    target: Any, spec: TrackSpec, case: ConcreteCase, track: str, reference: bool = False
) -> Returned:
    if spec.call == "module":
        return call_module(target, spec, case, track, reference)
    return call_function(target, spec, case, track, reference)
