"""The tracks (numpy, torch, text) as objects: how inputs are converted and passed, how a
submission is called, what the child preloads, which dtype a result is judged by.

This is the one module of the grader that imports torch (always inside a function: `grade`
for a NumPy problem never imports it). The harness calls through `get_track(name)`, in the
child and in the parent alike; checks ask the track what a right answer looks like. Lean at
import (no numpy, no harness): the CLI asks a track what it requires before anything loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from attn_drill.grading import harness
    from attn_drill.grading.cases import ConcreteCase
    from attn_drill.problems import TrackSpec


class Track:
    """What differs between tracks. The base class is a track that runs no code (text)."""

    name = ""
    # False for written answers: graded in-process by a rubric, so there is no reference code
    # (its model answer is written from the rubric), no mutants and no worker process.
    runs_code = False
    # The optional package the track needs (`attn-drill[torch]`), imported only for it.
    requires: str | None = None
    requires_label = ""  # ... as its users know it
    returned_kind = ""  # what harness._describe calls a right answer ("ndarray", "tensor")
    returned_text = ""  # ... as the learner writes it ("np.ndarray", "torch.Tensor")
    result_dtype = "float64"  # the dtype a result is expected in
    result_dtype_text = ""  # what a message asks the learner to return
    container_message = "fresh.arrays"  # what "compute into new ..." names (a message id)
    # Wrong returned kinds (harness._describe) with advice of their own: message ids
    # `advice.<track>.<kind>`.
    type_advice: frozenset[str] = frozenset()
    repro_convert = ""  # `as_input` of the --save-cases snippet
    # How an int64 input is turned into floats like another input (advice on a dtype error).
    float_cast = "{name}.astype({like}.dtype)"

    def available(self) -> bool:
        if self.requires is None:
            return True
        import importlib.util

        return importlib.util.find_spec(self.requires) is not None

    def require(self) -> None:
        """Raise MissingDependencyError (exit 2, with how to install it) when the track's
        optional package is missing."""

    def preload(self) -> None:
        """Import what a call on this track needs (the child, before the sandbox closes)."""

    def prepare_trusted_calls(self) -> None:
        """Set up this process before it runs references and mutants."""

    def import_for_references(self) -> None:
        """Import now what this process needs to compute references (practice does it while
        the learner reads, which takes that cost off the first grade)."""

    def import_in_background(self) -> None:
        """Start importing what the track needs while the child starts (2 cores)."""

    def guarded_modules(self) -> list[Any]:
        """Namespaces the child restores after learner code ran (beyond numpy's)."""
        return []

    def convert(self, array: np.ndarray, reference: bool) -> Any:
        """An input array as the submission receives it (a fresh copy)."""
        return array.copy()

    def sent(self, array: np.ndarray) -> np.ndarray:
        """The numbers the submission received for an input (to compare after the call)."""
        return array

    def tolerance_dtype(self, returned_dtype: str) -> str:
        """Whose tolerance judges a result of that dtype: float64's or float32's."""
        return "float64" if returned_dtype == "float64" else "float32"

    def function_gradients(self, target: Any, spec: TrackSpec, case: ConcreteCase,
                           reference: bool, returned: harness.Returned) -> None:
        """Add the gradients of a function's inputs to `returned` (tracks with autograd)."""

    def call_module(self, target: Any, spec: TrackSpec, case: ConcreteCase,
                    reference: bool) -> harness.Returned:
        raise TypeError(f"the {self.name} track has no modules")


class NumpyTrack(Track):
    name = "numpy"
    runs_code = True
    returned_kind = "ndarray"
    returned_text = "np.ndarray"
    result_dtype_text = "float64 (or float32)"
    type_advice = frozenset({"list", "tuple", "tensor", "scalar", "other:generator"})
    repro_convert = '''

def as_input(array):
    return array
'''

    def preload(self) -> None:
        import numpy  # noqa: F401


class TorchTrack(Track):
    name = "torch"
    runs_code = True
    requires = "torch"
    requires_label = "PyTorch"
    returned_kind = "tensor"
    returned_text = "torch.Tensor"
    result_dtype = "float32"
    result_dtype_text = "float32"
    container_message = "fresh.tensors"
    type_advice = frozenset({"ndarray", "list", "tuple", "scalar", "other:generator"})
    float_cast = "{name}.to({like}.dtype)"
    repro_convert = '''import torch


def as_input(array):
    tensor = torch.from_numpy(array)
    return tensor if tensor.dtype in (torch.bool, torch.int64) else tensor.float()
'''

    def require(self) -> None:
        from attn_drill.errors import require_torch

        require_torch()

    def preload(self) -> None:
        import numpy  # noqa: F401
        import torch

        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set (the warm worker's zygote, an earlier preload)
            pass

    def prepare_trusted_calls(self) -> None:
        import torch

        torch.set_num_threads(1)

    def import_for_references(self) -> None:
        import torch  # noqa: F401

    def import_in_background(self) -> None:
        import threading

        if not self.available():
            return  # require_torch() reports it once the track is known
        threading.Thread(target=_import_torch, name="attn-drill-import-torch",
                         daemon=True).start()

    def guarded_modules(self) -> list[Any]:
        import torch

        return [torch, torch.Tensor, torch.nn.Module, torch.nn]

    def convert(self, array: np.ndarray, reference: bool) -> Any:
        import torch

        return _as_torch(array, torch.float64 if reference else torch.float32)

    def sent(self, array: np.ndarray) -> np.ndarray:
        # Float inputs travel as float32 tensors; booleans and integers as they are.
        return array.astype("float32") if array.dtype.kind == "f" else array

    def tolerance_dtype(self, returned_dtype: str) -> str:
        # The inputs are float32, so even a float64 result is only as precise as float32.
        return "float32"

    def function_gradients(self, target: Any, spec: TrackSpec, case: ConcreteCase,
                           reference: bool, returned: harness.Returned) -> None:
        _torch_function_gradients(target, spec, case, reference, returned)

    def call_module(self, target: Any, spec: TrackSpec, case: ConcreteCase,
                    reference: bool) -> harness.Returned:
        return _torch_call_module(target, spec, case, reference)


class TextTrack(Track):
    name = "text"


TRACKS: dict[str, Track] = {t.name: t for t in (NumpyTrack(), TorchTrack(), TextTrack())}


def get_track(name: str) -> Track:
    return TRACKS[name]


def _import_torch() -> None:
    try:
        import torch  # noqa: F401
    except Exception:  # a broken install shows up again, with its message, where it is used
        pass


# -- the torch track's calls ---------------------------------------------------------------------


def _as_torch(array: np.ndarray, float_dtype: Any) -> Any:
    import torch

    if array.dtype.kind in "bi":  # booleans and int64 stay as they are
        return torch.from_numpy(array.copy())
    return torch.from_numpy(array.copy()).to(float_dtype)


def _torch_function_gradients(target: Any, spec: TrackSpec, case: ConcreteCase, reference: bool,
                        returned: harness.Returned) -> None:
    """A second call with the float inputs requiring grad: backward of
    sum(output * grad_output) and the gradient of every float input as `grad:<name>`.

    A separate call, so that in-place edits of the inputs (reported by no-mutation) and
    `.numpy()` (reported by the type check) keep their own verdicts in the first one."""
    import torch

    from attn_drill.grading import harness

    dtype = torch.float64 if reference else torch.float32
    inputs = harness.convert_inputs(case, lambda v: _as_torch(v, dtype))
    leaves = {k: inputs[k] for k in case.grad_inputs()
              if isinstance(inputs[k], torch.Tensor) and inputs[k].is_floating_point()}
    for name, tensor in leaves.items():
        tensor.requires_grad_(True)
        # The learner gets a non-leaf copy: an in-place edit (judged by no-mutation) must not
        # turn into autograd's "leaf variable used in an in-place operation" error here.
        inputs[name] = tensor.clone()
    positional, keywords = harness.split_inputs(inputs, spec)
    try:
        result = target(*positional, **keywords, **case.args)
        output = result[0] if isinstance(result, tuple) and result else result
        if not isinstance(output, torch.Tensor) or not output.requires_grad:
            return  # no graph at all: every gradient is missing
        upstream = torch.from_numpy(harness.grad_output_for(tuple(output.shape))).to(output.dtype)
        ((output * upstream).sum() + _other_losses(result, spec)).backward()
    except Exception:  # raised while building or running the graph (e.g. `.numpy()` on a
        return  # tensor that requires grad): the gradients stay missing and are reported so
    for name, tensor in leaves.items():
        if tensor.grad is not None:  # arrays only: `types` describes what the call returned
            returned.arrays["grad:" + name] = tensor.grad.detach().cpu().numpy()


def _other_losses(result: Any, spec: Any) -> Any:
    """The loss terms of the outputs after the first that `gradient_outputs` names (a module
    returning (output, weights) whose weights are graded too): each output times a fixed
    upstream gradient of its shape, summed. 0 when there are none."""
    import torch

    from attn_drill.grading import harness

    wanted = getattr(spec, "gradient_outputs", None) or []
    if not isinstance(result, tuple):
        return 0
    total: Any = 0
    for name, value in zip(spec.outputs, result, strict=False):
        if name == spec.outputs[0] or name not in wanted:
            continue
        if isinstance(value, torch.Tensor) and value.requires_grad:
            upstream = harness.grad_output_for(tuple(value.shape))
            total = total + (value * torch.from_numpy(upstream).to(value.dtype)).sum()
    return total


def _torch_call_module(target: Any, spec: TrackSpec, case: ConcreteCase,
                      reference: bool) -> harness.Returned:
    """Instantiate an nn.Module solution, load the case's parameters, run forward + backward.

    Outputs: `output` (train mode), `output@eval` (eval mode, on `harness.eval_input(x)`), and
    `grad:<name>` for the input `x` and every loaded parameter, from backward of
    sum(output * grad_output).
    """
    import torch

    from attn_drill.grading import harness

    dtype = torch.float64 if reference else torch.float32
    module = target(**case.init)
    module = module.to(dtype)
    with torch.no_grad():
        for name, value in case.params.items():
            _load_parameter(module, name, torch.from_numpy(value).to(dtype), spec.entry)
    inputs = harness.convert_inputs(case, lambda v: _as_torch(v, dtype))
    # The module's input x: its first data input (gradients and the eval pass follow it).
    x_name = next((k for k in inputs if case.input_info(k).role == "data"), next(iter(inputs)))
    inputs[x_name].requires_grad_(True)
    module.train()
    positional, keywords = harness.split_inputs(inputs, spec)
    named_params = dict(module.named_parameters())
    with _TensorUse() as used:
        result = module(*positional, **keywords, **case.args)
    returned = harness._collect(result, spec.outputs)
    output = result if not isinstance(result, tuple) else result[0]
    if isinstance(output, torch.Tensor) and output.requires_grad and case.grad_output is not None:
        module.zero_grad(set_to_none=True)
        grad_out = torch.from_numpy(case.grad_output).to(dtype)
        try:
            loss = (output * grad_out.reshape(output.shape)).sum()
            (loss + _other_losses(result, spec)).backward()
        except RuntimeError as exc:
            # A wrong shape (the output check reports it) or an in-place edit of a tensor
            # autograd needed: say which, in torch's words.
            lines = str(exc).strip().splitlines()
            first_line = lines[0] if lines else type(exc).__name__
            returned.types[harness.BACKWARD_ERROR] = first_line[:300]
        grads = {"grad:" + x_name: inputs[x_name].grad}
        for name in case.params:
            param = named_params.get(name)
            grads["grad:" + name] = None if param is None else param.grad
        for key, grad in grads.items():
            if grad is not None:
                returned.arrays[key] = grad.detach().cpu().numpy()
                returned.types[key] = "tensor"
            elif harness.BACKWARD_ERROR not in returned.types:
                tensor = inputs[x_name] if key[5:] == x_name else named_params.get(key[5:])
                returned.types[harness.GRAD_NOTE + key[5:]] = (
                    "detached" if tensor is not None and id(tensor) in used.ids else "unused")
    module.eval()
    # Fresh inputs for the eval pass: an in-place edit during the train pass (judged by
    # no-mutation) must not leak into it, and a different x means a module that caches its
    # first result cannot pass.
    eval_inputs = harness.convert_inputs(case, lambda v: _as_torch(v, dtype))
    eval_inputs[x_name] = _as_torch(harness.eval_input(case.inputs[x_name]), dtype)
    positional, keywords = harness.split_inputs(eval_inputs, spec)
    with torch.no_grad():
        eval_result = module(*positional, **keywords, **case.args)
    eval_output = eval_result[0] if isinstance(eval_result, tuple) else eval_result
    array = harness.to_numpy(eval_output)
    if array is not None:
        returned.arrays["output@eval"] = array
        returned.types["output@eval"] = harness._describe(eval_output)
    returned.inputs_after = harness._arrays_after(inputs)
    return returned


def _load_parameter(module: Any, name: str, value: Any, entry: str) -> None:
    """Copy one case weight (`W_q.weight`) into the learner's module, or say plainly why the
    module cannot take it."""
    import torch

    from attn_drill.grading import harness

    owner_name, _, attr = name.rpartition(".")
    owner = module
    if owner_name:
        try:
            owner = module.get_submodule(owner_name)
        except AttributeError:
            if getattr(module, owner_name.split(".")[0], None) is not None:
                raise harness.ModuleSetupError(
                    f"{owner_name} is not an nn.Module in your {entry}: the grader loads the "
                    f"case's weights into {owner_name}.weight and {owner_name}.bias; make it "
                    "nn.Linear(d_model, d_model)") from None
            raise harness.ModuleSetupError(
                f"{entry} has no attribute `{owner_name}`: the grader loads the case's weights "
                f"into self.{owner_name}.{attr}; create self.{owner_name} = "
                "nn.Linear(d_model, d_model) in __init__") from None
    tensor = getattr(owner, attr, None)
    if tensor is None and attr == "bias":
        raise harness.ModuleSetupError(
            f"{owner_name} has no bias: the grader loads a bias into {name}; create "
            f"nn.Linear(d_model, d_model) with bias=True")
    if not isinstance(tensor, torch.Tensor):
        raise harness.ModuleSetupError(
            f"{name} is not a tensor in your module: the grader loads the case's weights into "
            f"{name}; make {owner_name or name} an nn.Linear(d_model, d_model)")
    if tensor.numel() != value.numel():
        raise harness.ModuleSetupError(
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
