"""`grade --save-cases DIR`: each failing case as .npy files plus a snippet that reproduces it.

Layout: DIR/<nn>-<case-slug>/ with `input_<name>.npy`, `expected_<output>.npy`,
`got_<output>.npy`, `param_<name>.npy` (modules) and `repro.py`, which loads the inputs, calls
the learner's function (or module) and prints how far the result is from the expected one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attn_drill.errors import UsageError

if TYPE_CHECKING:
    from attn_drill.grading.checks import Evaluation
    from attn_drill.grading.report import CheckResult, FailingCase, GradeReport


def failing_cases(ev: Evaluation, checks: list[CheckResult]) -> list[FailingCase]:
    """The cases named by failed checks, with inputs, expected and got arrays."""
    from attn_drill.grading.report import FailingCase

    names: list[str] = []
    for check in checks:
        if not check.passed:
            names += [n for n in check.failed_cases if n not in names]
    result = []
    for name in names:
        case = ev.case(name)
        reference = ev.references.get(name)
        outcome = ev.outcomes.get(name)
        got = dict(outcome.returned.arrays) if outcome and outcome.returned else {}
        error = ""
        if outcome is not None and outcome.error is not None:
            error = getattr(outcome.error, "message", str(outcome.error))
        result.append(FailingCase(
            name=name,
            inputs=dict(case.inputs),
            args=dict(case.args),
            expected=dict(reference.arrays) if reference else {},
            got=got,
            init=dict(case.init),
            params=dict(case.params),
            grad_output=case.grad_output,
            error=error,
        ))
    return result


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "case"


def _file_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", name.replace(":", "_").replace("@", "_"))


# Loads the learner's file and defines `as_input` (torch tensors on the torch track).
PREAMBLE = '''"""Reproduce failing case {case!r} of {problem}
(attn-drill grade --seed {seed})."""
import importlib.util
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SOLUTION = Path({solution!r})

spec = importlib.util.spec_from_file_location("solution", SOLUTION)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
{convert}
'''

FUNCTION_SNIPPET = PREAMBLE + '''inputs = [{inputs}]
result = module.{entry}(*inputs{args})
values = result if isinstance(result, tuple) else (result,)
for name, value in zip({outputs!r}, values):
    expected_file = HERE / f"expected_{{name}}.npy"
    if not expected_file.exists():
        continue
    expected = np.load(expected_file)
    got = np.asarray(value.detach() if hasattr(value, "detach") else value, dtype=np.float64)
    if got.shape != expected.shape:
        print(f"{{name}}: shape {{got.shape}}, expected {{expected.shape}}")
        continue
    diff = np.abs(got - expected)
    print(f"{{name}}: max abs diff {{np.nanmax(diff):.3g}}; "
          f"close: {{np.allclose(got, expected, rtol=1e-5, atol=1e-6)}}")
'''

MODULE_SNIPPET = PREAMBLE + '''model = module.{entry}(**{init!r})
with torch.no_grad():
    for name, file in {params!r}.items():
        owner_name, _, attr = name.rpartition(".")
        owner = model.get_submodule(owner_name) if owner_name else model
        tensor = getattr(owner, attr)
        tensor.copy_(torch.from_numpy(np.load(HERE / file)).float().reshape(tensor.shape))
inputs = [{inputs}]
# The grader's eval-mode pass uses a different x (saved as eval_x.npy), the rest unchanged.
eval_inputs = [as_input(np.load(HERE / "eval_x.npy")), *inputs[1:]]
model.eval()
with torch.no_grad():
    result = model(*eval_inputs{args})
output = result[0] if isinstance(result, tuple) else result
expected = np.load(HERE / "expected_output_eval.npy")
got = output.detach().double().numpy()
if got.shape != expected.shape:
    print(f"output: shape {{got.shape}}, expected {{expected.shape}}")
else:
    print(f"output: max abs diff {{np.nanmax(np.abs(got - expected)):.3g}}")
# Gradients: backward of sum(output * grad_output), as the grader does.
grad_file = HERE / "grad_output.npy"
if grad_file.exists():
    model.train()
    inputs[0].requires_grad_(True)
    result = model(*inputs{args})
    output = result[0] if isinstance(result, tuple) else result
    upstream = torch.from_numpy(np.load(grad_file)).float().reshape(output.shape)
    if output.requires_grad:
        (output * upstream).sum().backward()
    params = dict(model.named_parameters())
    for name in [{first!r}, *{params!r}]:
        tensor = inputs[0] if name == {first!r} else params.get(name)
        expected_file = HERE / f"expected_grad_{{name}}.npy"
        if not expected_file.exists():
            continue
        if tensor is None or tensor.grad is None:
            print(f"grad {{name}}: missing (no gradient reached it)")
            continue
        diff = np.abs(tensor.grad.double().numpy().reshape(-1) - np.load(expected_file).reshape(-1))
        print(f"grad {{name}}: max abs diff {{diff.max():.3g}}")
'''

TORCH_CONVERT = '''import torch


def as_input(array):
    tensor = torch.from_numpy(array)
    return tensor if tensor.dtype == torch.bool else tensor.float()
'''

NUMPY_CONVERT = '''

def as_input(array):
    return array
'''


def save_failing_cases(report: GradeReport, directory: Path) -> list[Path]:
    """Write every failing case of `report` under `directory`; returns the case folders."""
    import numpy as np

    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"Cannot create {directory}: {exc.strerror or exc}") from None
    solution = str(Path(report.file).resolve())
    folders = []
    for number, case in enumerate(report.failing_cases, start=1):
        folder = directory / f"{number:02d}-{_slug(case.name)}"
        folder.mkdir(parents=True, exist_ok=True)
        input_names = []
        for name, array in case.inputs.items():
            file = f"input_{_file_key(name)}.npy"
            np.save(folder / file, np.asarray(array))
            input_names.append(f'as_input(np.load(HERE / "{file}"))')
        for kind, arrays in (("expected", case.expected), ("got", case.got)):
            for name, array in arrays.items():
                np.save(folder / f"{kind}_{_file_key(name)}.npy", np.asarray(array))
        params = {}
        for name, array in case.params.items():
            file = f"param_{_file_key(name)}.npy"
            np.save(folder / file, np.asarray(array))
            params[name] = file
        if case.grad_output is not None:
            np.save(folder / "grad_output.npy", np.asarray(case.grad_output))
        if report.call == "module" and case.inputs:
            from attn_drill.grading.harness import eval_input

            np.save(folder / "eval_x.npy", eval_input(np.asarray(next(iter(case.inputs.values())))))
        args = "".join(f", {k}={v!r}" for k, v in case.args.items())
        fields: dict[str, Any] = {
            "case": case.name, "problem": report.problem, "seed": report.seed,
            "solution": solution, "entry": report.entry, "inputs": ", ".join(input_names),
            "args": args, "outputs": tuple(case.expected),
            "convert": TORCH_CONVERT if report.track == "torch" else NUMPY_CONVERT,
        }
        if report.call == "module":
            snippet = MODULE_SNIPPET.format(init=case.init, params=params,
                                            first=next(iter(case.inputs), "x"), **fields)
        else:
            snippet = FUNCTION_SNIPPET.format(**fields)
        (folder / "repro.py").write_text(snippet, encoding="utf-8")
        if case.error:
            (folder / "error.txt").write_text(case.error + "\n", encoding="utf-8")
        folders.append(folder)
    return folders
