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
            passed_as={k: case.input_info(k).pass_as for k in case.inputs},
            chunks=list(case.chunks),
        ))
    return result


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "case"


def _file_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", name.replace(":", "_").replace("@", "_"))


# Loads the learner's file and defines `as_input` (torch tensors on the torch track) and
# `judge`, which compares like the grader: the tolerance of the dtype returned.
PREAMBLE = '''"""Reproduce failing case {case!r} of {problem}
(attn-drill grade --seed {seed}). Exits 1 while the case still fails."""
import importlib.util
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SOLUTION = Path({solution!r})
TRACK = {track!r}
# rtol, atol per dtype, as the grader applies them: float64 results on the NumPy track are
# judged by float64's, everything else (float32, float16, torch results) by float32's.
TOLERANCES = {tolerances!r}

spec = importlib.util.spec_from_file_location("solution", SOLUTION)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
{convert}

def as_numbers(value):
    """(float64 array, dtype name) of a returned array or tensor."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        return value.double().numpy(), str(value.dtype).removeprefix("torch.")
    array = np.asarray(value)
    return np.asarray(array, dtype=np.float64), array.dtype.name


def judge(name, value, expected):
    """Print how `value` compares with `expected`; True exactly when the grader accepts it:
    an ndarray (a tensor on the torch track) of float64 or float32, the expected shape, and
    every element within the tolerance of the dtype returned (NaN matches NaN, inf the same
    inf)."""
    wanted = "tensor" if TRACK == "torch" else "ndarray"
    kind = "tensor" if hasattr(value, "detach") else type(value).__name__
    if kind != wanted:
        print(f"{{name}}: returned a {{kind}}, the grader wants a {{wanted}}")
        return False
    dtype = str(value.dtype).removeprefix("torch.")
    if dtype not in ("float64", "float32"):
        print(f"{{name}}: dtype {{dtype}}; the grader accepts float64 or float32 results only")
        return False
    got, dtype = as_numbers(value)
    if got.shape != expected.shape:
        print(f"{{name}}: shape {{got.shape}}, expected {{expected.shape}}")
        return False
    key = "float64" if TRACK != "torch" and dtype == "float64" else "float32"
    rtol, atol = TOLERANCES[key]
    nan = np.isnan(got) & ~np.isnan(expected)
    if nan.any():
        print(f"{{name}}: {{int(nan.sum())}} NaN value(s) where numbers are expected "
              f"(dtype {{dtype}})")
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(got - expected) <= atol + rtol * np.abs(expected)
        close |= np.isnan(got) & np.isnan(expected)
        close |= np.isinf(got) & np.isinf(expected) & (np.sign(got) == np.sign(expected))
        diff = np.abs(got - expected)
    worst = float(np.nanmax(diff, initial=0.0)) if diff.size else 0.0
    print(f"{{name}}: max abs diff {{worst:.3g}}; close: {{bool(close.all())}} "
          f"(rtol={{rtol:g}}, atol={{atol:g}} for {{key}}; you returned {{dtype}})")
    return bool(close.all())
'''

FUNCTION_SNIPPET = PREAMBLE + '''
inputs = [{inputs}]
# An iterator of blocks is consumed by the call: there is nothing to compare afterwards.
originals = [None if hasattr(x, "__next__") else np.array(as_numbers(x)[0]) for x in inputs]
OUTPUTS = {outputs!r}
{helpers}result = {call}
ok = True
if len(OUTPUTS) > 1 and not (isinstance(result, tuple) and len(result) == len(OUTPUTS)):
    print(f"expected a tuple of {{len(OUTPUTS)}} values ({{', '.join(OUTPUTS)}})")
    ok = False
values = result if isinstance(result, tuple) else (result,)
for name, value in zip(OUTPUTS, values):
    expected_file = HERE / f"expected_{{name}}.npy"
    if expected_file.exists():
        ok = judge(name, value, np.load(expected_file)) and ok
for position, (before, after) in enumerate(zip(originals, inputs)):
    if before is None:
        continue
    if not np.array_equal(before, as_numbers(after)[0], equal_nan=True):
        print(f"input {{position}} was changed in place")
        ok = False
print("this case passes now" if ok else "this case still fails")
sys.exit(0 if ok else 1)
'''

# The grader calls a chunked case once per chunk, each call given the carried outputs
# (caches) of the previous one; the other outputs are joined along axis -2.
CHUNKED_HELPER = '''NAMES = {names!r}
CHUNKS = {chunks!r}
SPLIT, CARRY = {split!r}, {carry!r}


def call_in_chunks(values):
    given = dict(zip(NAMES, values))
    carried = {{name: given[name] for name in CARRY}}
    pieces = {{name: [] for name in OUTPUTS if name not in CARRY.values()}}
    start = 0
    for size in CHUNKS:
        call = dict(given)
        for name in SPLIT:
            call[name] = given[name][..., start:start + size, :]
        call.update(carried)
        returned = dict(zip(OUTPUTS, module.{entry}(*call.values(){args})))
        for name, output in CARRY.items():
            carried[name] = returned[output]
        for name in pieces:
            pieces[name].append(as_numbers(returned[name])[0])
        start += size
    return tuple(np.concatenate(pieces[name], axis=-2) if name in pieces else returned[name]
                 for name in OUTPUTS)


'''

MODULE_SNIPPET = PREAMBLE + '''
model = module.{entry}(**{init!r})
with torch.no_grad():
    for name, file in {params!r}.items():
        owner_name, _, attr = name.rpartition(".")
        owner = model.get_submodule(owner_name) if owner_name else model
        tensor = getattr(owner, attr)
        tensor.copy_(torch.from_numpy(np.load(HERE / file)).float().reshape(tensor.shape))
inputs = [{inputs}]
ok = True
# Train mode, then backward of sum(output * grad_output), as the grader does.
model.train()
inputs[0].requires_grad_(True)
result = model(*inputs{args})
output = result[0] if isinstance(result, tuple) else result
ok = judge("output", output, np.load(HERE / "expected_output.npy")) and ok
grad_file = HERE / "grad_output.npy"
if grad_file.exists() and hasattr(output, "requires_grad"):
    if output.requires_grad:
        upstream = torch.from_numpy(np.load(grad_file)).float()
        try:
            (output * upstream.reshape(output.shape)).sum().backward()
        except RuntimeError as exc:
            print(f"backward failed: {{exc}}")
    params = dict(model.named_parameters())
    for name in [{first!r}, *{params!r}]:
        tensor = inputs[0] if name == {first!r} else params.get(name)
        expected_file = HERE / f"expected_grad_{{name}}.npy"
        if not expected_file.exists():
            continue
        if tensor is None or tensor.grad is None:
            print(f"grad {{name}}: missing (no gradient reached it)")
            ok = False
            continue
        expected = np.load(expected_file)
        ok = judge(f"grad {{name}}", tensor.grad.reshape(expected.shape), expected) and ok
# Eval mode on a different x (saved as eval_x.npy) and fresh copies of the other inputs, so
# an in-place edit during the train pass does not carry over (the grader does the same).
eval_inputs = [as_input(np.load(HERE / "eval_x.npy")), *[{inputs}][1:]]
model.eval()
with torch.no_grad():
    result = model(*eval_inputs{args})
output = result[0] if isinstance(result, tuple) else result
ok = judge("output (eval mode)", output, np.load(HERE / "expected_output_eval.npy")) and ok
print("this case passes now" if ok else "this case still fails")
sys.exit(0 if ok else 1)
'''

def save_failing_cases(report: GradeReport, directory: Path) -> list[Path]:
    """Write every failing case of `report` under `directory`; returns the case folders."""
    import numpy as np

    from attn_drill.grading.tracks import get_track

    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"Cannot create {directory}: {exc.strerror or exc}") from None
    from attn_drill.grading.submission import path_from_shown

    solution = str(path_from_shown(report.file).resolve())
    tolerances = _tolerances(report.problem)
    folders = []
    for number, case in enumerate(report.failing_cases, start=1):
        folder = directory / f"{number:02d}-{_slug(case.name)}"
        folder.mkdir(parents=True, exist_ok=True)
        input_names = []
        for name, value in case.inputs.items():
            input_names.append(_saved_input(folder, name, value,
                                            case.passed_as.get(name, "array")))
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
            "track": report.track, "tolerances": tolerances,
            "case": case.name, "problem": report.problem, "seed": report.seed,
            "solution": solution, "entry": report.entry, "inputs": ", ".join(input_names),
            "args": args,
            "outputs": tuple(n for n in case.expected if ":" not in n and "@" not in n),
            "convert": get_track(report.track).repro_convert,
        }
        if report.call == "module":
            snippet = MODULE_SNIPPET.format(init=case.init, params=params,
                                            first=next(iter(case.inputs), "x"), **fields)
        else:
            snippet = FUNCTION_SNIPPET.format(**fields, **_call_code(report, case, fields))
        (folder / "repro.py").write_text(snippet, encoding="utf-8")
        if case.error:
            (folder / "error.txt").write_text(case.error + "\n", encoding="utf-8")
        folders.append(folder)
    report.saved_cases_dir = str(directory)
    report.saved_cases = [str(f) for f in folders]
    return folders


def _call_code(report: GradeReport, case: FailingCase, fields: dict[str, Any]
               ) -> dict[str, str]:
    """How the snippet calls the solution: once, or once per chunk (grading/chunks.py)."""
    from attn_drill.grading import chunks as chunk_plans

    plain = {"helpers": "", "call": f"module.{fields['entry']}(*inputs{fields['args']})"}
    spec = _track_spec(report.problem, report.track)
    if spec is None or not case.chunks:
        return plain
    split, carry = chunk_plans.plan_of(spec)
    if not split:
        return plain
    helper = CHUNKED_HELPER.format(names=list(case.inputs), chunks=case.chunks, split=split,
                                   carry=carry, entry=fields["entry"], args=fields["args"])
    return {"helpers": helper, "call": "call_in_chunks(inputs)"}


def _track_spec(problem_id: str, track: str) -> Any:
    """The track's spec, or None for a problem that cannot be found (another pack)."""
    try:
        from attn_drill.problems import get_problem

        return get_problem(problem_id).tracks.get(track)  # type: ignore[call-overload]
    except Exception:
        return None


def _saved_input(folder: Path, name: str, value: Any, passed_as: str) -> str:
    """Save one input under `folder`; the snippet's expression that passes it on as the
    grader does (an array or tensor, a Python list or number, a one-shot iterator)."""
    import numpy as np

    from attn_drill.grading.inputs import Blocks

    if isinstance(value, Blocks):
        items = []
        for index, item in enumerate(value.items):
            parts = []
            for part_index, part in enumerate(item):
                file = f"input_{_file_key(name)}_{index}_{part_index}.npy"
                np.save(folder / file, np.asarray(part))
                parts.append(f'as_input(np.load(HERE / "{file}"))')
            items.append("(" + ", ".join(parts) + ",)")
        return "iter([" + ", ".join(items) + "])"
    file = f"input_{_file_key(name)}.npy"
    np.save(folder / file, np.asarray(value))
    if passed_as == "list":
        return f'np.load(HERE / "{file}").tolist()'
    if passed_as == "scalar":
        return f'np.load(HERE / "{file}").item()'
    return f'as_input(np.load(HERE / "{file}"))'


def _tolerances(problem_id: str) -> dict[str, tuple[float, float]]:
    """The grader's (rtol, atol) per dtype for a problem (the defaults if it is not found)."""
    from attn_drill.problems import Tolerances

    tolerances = Tolerances()
    try:
        from attn_drill.problems import get_problem

        tolerances = get_problem(problem_id).tolerances
    except Exception:  # a problem from another pack: the defaults are what it most likely uses
        pass
    return {"float64": (tolerances.float64.rtol, tolerances.float64.atol),
            "float32": (tolerances.float32.rtol, tolerances.float32.atol)}
